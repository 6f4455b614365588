"""Proposal handlers through the unit test kit (the bot as the application builds it), with a
frozen clock.

What the bot sends is read from the recording sender; what it stores from the repository.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness import ROOM, Harness

from bot.runtime.clock import FrozenClock
from handlers.proposals import commands as proposals
from handlers.shared.tags import MAX_PROPOSAL_LENGTH
from storage.proposals import ProposalRepository, ProposalView
from storage.rooms import RoomSettingsRepository

ALICE = "@alice:test"
BOB = "@bob:test"
ORGANISER = "@org:test"
NOW = datetime(2027, 5, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 100}


async def send(bot: Harness, event: dict[str, Any]) -> str:
    """Deliver one event; its ID."""
    await bot.deliver(event)
    return str(event["event_id"])


async def say(bot: Harness, sender: str, body: str, *, age: timedelta = timedelta(0)) -> str:
    return await send(bot, bot.message(sender, body, age=age))


async def react(bot: Harness, sender: str, target: str, key: str) -> str:
    return await send(bot, bot.reaction(sender, target, key))


async def redact(bot: Harness, sender: str, target: str) -> str:
    return await send(bot, bot.redaction(sender, target))


async def edit(bot: Harness, sender: str, target: str, body: str) -> str:
    return await send(bot, bot.edit(sender, target, body))


def notices(bot: Harness) -> list[dict[str, Any]]:
    return [s["content"] for s in bot.sender.sent if s["type"] == "m.room.message"]


def reactions(bot: Harness) -> list[tuple[str, str]]:
    return [
        (s["content"]["m.relates_to"]["event_id"], s["content"]["m.relates_to"]["key"])
        for s in bot.sender.sent
        if s["type"] == "m.reaction"
    ]


def stored(bot: Harness) -> list[ProposalView]:
    with bot.database.session() as session:
        return ProposalRepository(session).list(ROOM)


async def test_proposals_command_records_acks_and_replies_with_id(bot: Harness) -> None:
    asked = await say(bot, ALICE, "!proposition Un tiers-lieu par canton #TiersLieux #ESS")
    (view,) = stored(bot)
    assert view.text == "Un tiers-lieu par canton #TiersLieux #ESS"
    assert [t.display for t in view.tags] == ["TiersLieux", "ESS"]
    assert view.event_id == asked and view.author == ALICE
    assert reactions(bot) == [(asked, proposals.ACK_KEY)]
    (notice,) = notices(bot)
    assert notice["body"] == f"Proposition {view.short_id} enregistrée (#TiersLieux, #ESS)."
    assert notice["m.relates_to"]["m.in_reply_to"]["event_id"] == asked


async def test_proposals_hashtag_capture_reacts_without_message(bot: Harness) -> None:
    said = await say(bot, BOB, "Des bancs partout #proposition #Numérique")
    await say(bot, BOB, "Juste une discussion #numérique")
    (view,) = stored(bot)
    assert view.event_id == said
    assert [t.folded for t in view.tags] == ["numerique"]
    assert reactions(bot) == [(said, proposals.ACK_KEY)]
    assert notices(bot) == []


async def test_proposals_backlog_message_is_still_recorded(bot: Harness) -> None:
    said = await say(bot, BOB, "Pendant la panne #proposal #climat", age=timedelta(hours=2))
    (view,) = stored(bot)
    assert view.event_id == said and view.created_at == NOW - timedelta(hours=2)
    assert reactions(bot) == [(said, proposals.ACK_KEY)]


@pytest.mark.parametrize(
    "body",
    ["#proposition", "#proposition #ess", "x" * (MAX_PROPOSAL_LENGTH + 1) + " #proposition"],
)
async def test_proposals_passive_refusals_are_answered_and_nothing_stored(
    bot: Harness, body: str
) -> None:
    said = await say(bot, ALICE, body)
    assert stored(bot) == []
    assert reactions(bot) == []
    (notice,) = notices(bot)
    assert "proposition" in notice["body"].lower()
    assert notice["m.relates_to"]["m.in_reply_to"]["event_id"] == said


@pytest.mark.parametrize("body", ["!proposition", "!proposal #ess", "!propose " + "y" * 2001])
async def test_proposals_command_refusals_are_answered_and_nothing_stored(
    bot: Harness, body: str
) -> None:
    await say(bot, ALICE, body)
    assert stored(bot) == []
    assert reactions(bot) == []
    assert len(notices(bot)) == 1


async def test_proposals_duplicate_by_same_person_is_refused(bot: Harness) -> None:
    await say(bot, ALICE, "!proposition Des bancs #ess")
    await say(bot, ALICE, "des  BANCS #ess #proposition")
    await say(bot, BOB, "Des bancs #ess #proposition")  # someone else may say the same
    assert [v.author for v in stored(bot)] == [BOB, ALICE]
    refusal = notices(bot)[-1]["body"]
    assert "déjà" in refusal and stored(bot)[1].short_id in refusal


async def test_proposals_supports_once_author_ignored_and_removal(bot: Harness) -> None:
    said = await say(bot, ALICE, "Des bancs #proposition")
    await react(bot, ALICE, said, "👍")  # the author's own
    first = await react(bot, BOB, said, "👍")
    second = await react(bot, BOB, said, "👍️")  # with U+FE0F
    await react(bot, BOB, said, "👍🏽")  # skin tone
    await react(bot, BOB, said, "🎉")
    assert stored(bot)[0].supports == 1
    await redact(bot, BOB, first)
    assert stored(bot)[0].supports == 1
    await redact(bot, BOB, second)
    assert stored(bot)[0].supports == 1  # the 👍🏽 remains
    assert notices(bot) == []


async def test_proposals_organiser_marks_and_member_marks_ignored(bot: Harness) -> None:
    said = await say(bot, ALICE, "Des bancs #proposition")
    await react(bot, BOB, said, "⭐")
    assert stored(bot)[0].status == "open"
    star = await react(bot, ORGANISER, said, "⭐")
    assert stored(bot)[0].status == "retained"
    aside = await react(bot, ORGANISER, said, "🗄️")
    assert stored(bot)[0].status == "set_aside"
    await redact(bot, ORGANISER, aside)
    assert stored(bot)[0].status == "retained"
    await redact(bot, ORGANISER, star)
    assert stored(bot)[0].status == "open"


async def test_proposals_edit_by_author_updates_text_and_tags(bot: Harness) -> None:
    said = await say(bot, ALICE, "Des bancs #proposition #ess")
    await edit(bot, BOB, said, "Hijack #proposition #autre")  # not the author: ignored
    assert stored(bot)[0].text == "Des bancs #proposition #ess"
    await edit(bot, ALICE, said, "Des bancs en bois #climat")  # marker dropped: still kept
    (view,) = stored(bot)
    assert view.text == "Des bancs en bois #climat"
    assert [t.folded for t in view.tags] == ["climat"]


async def test_proposals_edit_of_command_proposal_drops_command_name(bot: Harness) -> None:
    said = await say(bot, ALICE, "!proposal Des bancs #ess")
    await edit(bot, ALICE, said, "!proposal Des tables #ess #bois")
    (view,) = stored(bot)
    assert view.text == "Des tables #ess #bois"
    assert len(notices(bot)) == 1  # the edit did not run the command again


async def test_proposals_invalid_edit_is_refused_and_old_text_kept(bot: Harness) -> None:
    said = await say(bot, ALICE, "Des bancs #proposition")
    await edit(bot, ALICE, said, "#proposition")
    assert stored(bot)[0].text == "Des bancs #proposition"
    (notice,) = notices(bot)
    assert "n’a pas été prise en compte" in notice["body"]
    assert notice["m.relates_to"]["m.in_reply_to"]["event_id"] == said


async def test_proposals_redaction_deletes_the_proposal(bot: Harness) -> None:
    said = await say(bot, ALICE, "Des bancs #proposition")
    await react(bot, BOB, said, "👍")
    await redact(bot, ALICE, said)
    assert stored(bot) == []


async def test_proposals_list_filters_by_folded_tag_and_synonyms(bot: Harness) -> None:
    with bot.database.session() as session:
        RoomSettingsRepository(session).update(ROOM, tag_synonyms={"ess": "economiesociale"})
    fibre = await say(bot, ALICE, "Fibre partout #proposition #numérique")
    await say(bot, BOB, "Médiation #proposition #Numérique")
    await say(bot, BOB, "Coopératives #proposition #ESS")
    await say(bot, ALICE, "Climat d'abord #proposition #climat")
    await say(bot, ALICE, "!propositions #Numerique")
    listing = notices(bot)[-1]
    assert "Propositions avec #numérique (2)" in listing["body"]
    assert "Fibre partout" in listing["body"] and "Médiation" in listing["body"]
    assert "Climat" not in listing["body"]
    # tags show in one spelling (the most used; ties go to the first written)
    assert "par Bob · #numérique ·" in listing["body"]
    await say(bot, ALICE, "!propositions #économie-sociale")
    assert "Coopératives" in notices(bot)[-1]["body"]
    await say(bot, ALICE, "!propositions")
    body = notices(bot)[-1]["body"]
    assert body.index("Climat") < body.index("Fibre")  # newest first
    assert "par Alice" in body and "👍 0" in body and "en discussion" in body
    assert f"https://matrix.to/#/{ROOM}/{fibre}" in body


async def test_proposals_list_paginates(bot: Harness) -> None:
    for n in range(12):
        await say(bot, ALICE, f"Idée numéro {n} #proposition")
    await say(bot, BOB, "!propositions")
    body = notices(bot)[-1]["body"]
    assert "Idée numéro 11" in body and "Idée numéro 1 " not in body
    assert "Page 1 sur 2" in body and "!propositions page 2" in body
    await say(bot, BOB, "!propositions page: 2")
    body = notices(bot)[-1]["body"]
    assert "Idée numéro 1 " in body and "Idée numéro 0" in body and "numéro 11" not in body
    await say(bot, BOB, "!propositions page 9")
    assert "Il n’y a pas de page 9" in notices(bot)[-1]["body"]
    await say(bot, BOB, "!propositions page deux")
    assert "numéro de page" in notices(bot)[-1]["body"]


async def test_proposals_list_empty_and_bad_filter(bot: Harness) -> None:
    await say(bot, BOB, "!propositions")
    assert "Aucune proposition dans ce salon" in notices(bot)[-1]["body"]
    await say(bot, BOB, "!propositions #eau")
    assert "Aucune proposition avec #eau" in notices(bot)[-1]["body"]
    await say(bot, BOB, "!propositions ???")
    assert "n’est pas un tag" in notices(bot)[-1]["body"]


async def test_proposals_list_escapes_html(bot: Harness) -> None:
    await say(bot, ALICE, "<script>alert(1)</script> <b>gras</b> #proposition")
    await say(bot, ALICE, "!propositions")
    listing = notices(bot)[-1]
    assert "<script>" not in listing["formatted_body"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing["formatted_body"]
    assert "<b>gras</b>" not in listing["formatted_body"]
    assert "<script>alert(1)</script>" in listing["body"]
    assert listing["m.mentions"] == {}


def test_proposals_normalise_key() -> None:
    assert proposals.normalise_key("👍️") == "👍"
    assert proposals.normalise_key("👍🏿") == "👍"
    assert proposals.normalise_key("🗄️") == proposals.SET_ASIDE_KEY
    assert proposals.normalise_key("⭐") == proposals.RETAINED_KEY


def test_proposals_duplicate_key_ignores_markers_case_and_spaces() -> None:
    assert proposals.duplicate_key("Des  bancs #ess #proposition") == proposals.duplicate_key(
        "#Proposal des bancs #ess"
    )
    assert proposals.duplicate_key("Des bancs #ess") != proposals.duplicate_key("Des bancs #eau")


async def test_proposals_list_shows_most_used_spelling(bot: Harness) -> None:
    await say(bot, ALICE, "Premier #proposition #ess")
    await say(bot, BOB, "Deuxième #proposition #ESS")
    await say(bot, ALICE, "Troisième #proposition #ESS")
    await say(bot, BOB, "!propositions #Ess")
    body = notices(bot)[-1]["body"]
    assert "Propositions avec #ESS (3)" in body
    assert "· #ess ·" not in body and body.count("· #ESS ·") == 3
