"""Every command that takes arguments declares how it reads them: malformed arguments are
answered with what was wrong and the command's usage (the line `!aide <commande>` shows), and
nothing is stored. Refusals that are not about the arguments' shape (who may do it, what does
not exist) keep their answer, without the usage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from harness import Harness
from sqlmodel import SQLModel, select

ORGANISER = "@orga:test"
ANA = "@ana:test"
USAGE = "\nUtilisation : "


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 50}


def stored(bot: Harness) -> dict[str, int]:
    """Rows of every table but the record of handled events and the messages sent."""
    skip = {"processed_event", "outbox_message"}
    with bot.database.session() as session:
        return {
            table.name: len(session.exec(select(table)).all())
            for table in SQLModel.metadata.sorted_tables
            if table.name not in skip
        }


async def say_one(bot: Harness, sender: str, command: str) -> str:
    bodies = await bot.say(sender, command)
    assert len(bodies) == 1, bodies
    return bodies[0]


MALFORMED = [
    pytest.param(
        "!annuler demain",
        "Indiquez l'identifiant de ce qu'il faut annuler, par exemple !annuler E7.",
        "!annuler <identifiant> [<date d'une réunion d'un événement récurrent>]",
        id="annuler",
    ),
    pytest.param(
        "!cancel X3",
        "« X3 » n'est pas un identifiant annulable.",
        "!annuler <identifiant> [<date d'une réunion d'un événement récurrent>]",
        id="annuler-unknown-kind",
    ),
    pytest.param(
        "!agenda demain",
        "Option inconnue : « demain ».",
        "!agenda [ics | abonnement | nouveau-lien]",
        id="agenda",
    ),
    pytest.param(
        "!clore deux",
        "Donnez l’identifiant du sondage, par exemple : !clore S2.",
        "!clore <identifiant du sondage>",
        id="clore",
    ),
    pytest.param(
        "!proposition #ess #climat",
        "Une proposition a besoin de mots en plus de ses hashtags",
        "!proposition <texte avec #tags>",
        id="proposition",
    ),
    pytest.param(
        "!propositions #ess page zéro",
        "Indiquez un numéro de page, par exemple !propositions page 2.",
        "!propositions [#tag …] [page N] | lien | nouveau-lien",
        id="propositions",
    ),
    pytest.param(
        "!propositions #ess ???",
        "« ??? » n’est pas un tag",
        "!propositions [#tag …] [page N] | lien | nouveau-lien",
        id="propositions-not-a-tag",
    ),
    pytest.param(
        "!résumé maintenant",
        "Utilisez !résumé pour voir un aperçu du résumé de la semaine",
        "!résumé [publier | lien | nouveau-lien]",
        id="résumé",
    ),
    pytest.param(
        "!réglages couleur bleu",
        "Réglage inconnu : couleur.",
        "!réglages [réglage valeur]",
        id="réglages-unknown",
    ),
    pytest.param(
        "!réglages langue",
        "Indiquez une valeur, par exemple !réglages langue en.",
        "!réglages [réglage valeur]",
        id="réglages-no-value",
    ),
    pytest.param(
        "!settings language klingon",
        "Langue inconnue : klingon.",
        "!réglages [réglage valeur]",
        id="réglages-bad-value",
    ),
    pytest.param(
        "!aide sondag",
        "Il n'y a pas de commande !sondag. Vouliez-vous dire !sondage ?",
        "!aide [commande]",
        id="aide",
    ),
    pytest.param(
        "!help zzzz",
        "Il n'y a pas de commande !zzzz. Tapez !aide pour la liste.",
        "!aide [commande]",
        id="aide-nothing-close",
    ),
]


@pytest.mark.parametrize(("command", "wrong", "usage"), MALFORMED)
async def test_arguments_malformed_answered_with_the_error_and_usage_nothing_stored(
    bot, command, wrong, usage
):
    before = stored(bot)
    body = await say_one(bot, ORGANISER, command)
    error, _, usage_line = body.partition(USAGE)
    assert wrong in error, body
    assert usage_line == usage, body
    assert stored(bot) == before
    # the same usage as help gives for the command
    name = usage.split()[0].removeprefix("!")
    assert usage in await say_one(bot, ANA, f"!aide {name}")


NOT_ABOUT_SHAPE = [
    pytest.param(ORGANISER, "!annuler E9", "Il n'y a pas de E9 dans ce salon", id="annuler"),
    pytest.param(ORGANISER, "!clore S9", "Il n’y a pas de sondage S9", id="clore"),
    pytest.param(ANA, "!propositions page 3", "Il n’y a pas de page 3", id="propositions"),
    pytest.param(ANA, "!résumé publier", "Seuls les organisateurs", id="résumé"),
    pytest.param(
        ANA, "!réglages langue en", "Seuls les organisateurs (niveau de pouvoir 50", id="réglages"
    ),
]


@pytest.mark.parametrize(("who", "command", "refusal"), NOT_ABOUT_SHAPE)
async def test_arguments_well_formed_but_refused_answered_without_usage(bot, who, command, refusal):
    before = stored(bot)
    body = await say_one(bot, who, command)
    assert refusal in body, body
    assert USAGE not in body, body
    assert stored(bot) == before


async def test_arguments_cancel_reads_a_poll_id_and_hands_it_to_polls(bot):
    await bot.say(ANA, "!sondage Quel jour ? ; mardi ; jeudi")
    cancelled = await bot.say(ANA, "!annuler s1")
    assert "Le sondage S1 est annulé : aucun résultat ne sera publié." in cancelled
    assert "a été annulé" in await say_one(bot, ANA, "!clore S1")


async def test_arguments_proposal_repeated_refused_without_usage(bot):
    await bot.say(ANA, "!proposition Un tiers-lieu par canton #ess")
    before = stored(bot)
    body = await say_one(bot, ANA, "!proposition un tiers-lieu  par canton #ESS")
    assert "Vous avez déjà fait cette proposition ici (P1)" in body, body
    assert USAGE not in body, body
    assert stored(bot) == before


async def test_arguments_proposal_from_the_backlog_stays_silent(bot):
    """`!proposition` also runs from the backlog, without answering: a malformed one too."""
    before = stored(bot)
    assert await bot.say(ANA, "!proposition #ess", age=timedelta(hours=2)) == []
    assert stored(bot) == before
    assert await bot.say(ANA, "!proposition Une navette #mobilité", age=timedelta(hours=2)) == [
        ""  # the 📝 reaction
    ]
    assert stored(bot)["proposal"] == before["proposal"] + 1
