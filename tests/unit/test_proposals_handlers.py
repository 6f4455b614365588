"""Proposal handlers through the real intake and router, on SQLite, with a frozen clock.

What the bot would send is read from the outbox; what it stores from the repository.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.runtime.clock import FrozenClock, to_millis
from bot.runtime.config import BotConfig
from bot.runtime.intake import Intake
from bot.runtime.messages import MessageRenderer
from bot.runtime.outbox import Outbox
from bot.runtime.pacing import Pacer
from bot.runtime.router import Registry, Router
from bot.runtime.timers import Timers
from bot.text.i18n import Translations
from handlers.proposals import commands as proposals
from handlers.shared.tags import MAX_PROPOSAL_LENGTH
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import OutboxRepository
from storage.proposals import ProposalRepository, ProposalView
from storage.rooms import RoomSettingsRepository

ROOM = "!room:example.org"
BOT = "@concerto:example.org"
ALICE = "@alice:example.org"
BOB = "@bob:example.org"
ORGANISER = "@org:example.org"
NOW = datetime(2027, 5, 3, 9, 0, tzinfo=UTC)


class Harness:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.clock = FrozenClock(NOW)
        translations = Translations()
        renderer = MessageRenderer(translations)
        self.outbox = Outbox(database, sender=None, clock=self.clock)  # type: ignore[arg-type]
        self.ids = itertools.count(1)
        commands = proposals.commands()
        self.intake = Intake(
            bot_user_id=BOT,
            database=database,
            clock=self.clock,
            defaults=BotConfig(),
            router=Router(Registry(commands), "!"),
            pacer=Pacer(BotConfig().commands_per_minute, BotConfig().max_waiting_commands),
            hooks=proposals.hooks("!"),
            translations=translations,
            renderer=renderer,
            outbox=self.outbox,
            timers=Timers(database, self.clock),
            power_level=self._power_level,
            display_name=lambda room, user: user.split(":")[0].lstrip("@").title(),
        )

    async def _power_level(self, room_id: str, user_id: str) -> float:
        return 100 if user_id == ORGANISER else 0

    async def event(
        self, sender: str, content: dict[str, Any], *, kind: str = "m.room.message", **extra: Any
    ) -> str:
        event_id = f"$e{next(self.ids)}"
        raw = {
            "event_id": event_id,
            "sender": sender,
            "type": kind,
            "content": content,
            "origin_server_ts": extra.pop("ts", to_millis(self.clock.now())),
            **extra,
        }
        await self.intake.handle_room_events(ROOM, [raw])
        return event_id

    async def say(self, sender: str, body: str, **extra: Any) -> str:
        return await self.event(sender, {"msgtype": "m.text", "body": body}, **extra)

    async def react(self, sender: str, target: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": target, "key": key}
        return await self.event(sender, {"m.relates_to": relation}, kind="m.reaction")

    async def redact(self, sender: str, target: str) -> str:
        return await self.event(sender, {"redacts": target}, kind="m.room.redaction")

    async def edit(self, sender: str, target: str, body: str) -> str:
        content = {
            "msgtype": "m.text",
            "body": f"* {body}",
            "m.new_content": {"msgtype": "m.text", "body": body},
            "m.relates_to": {"rel_type": "m.replace", "event_id": target},
        }
        return await self.event(sender, content)

    def sent(self) -> list[OutboxMessage]:
        with self.database.session() as session:
            return OutboxRepository(session).list_for_room(ROOM)

    def notices(self) -> list[dict[str, Any]]:
        return [m.content for m in self.sent() if m.event_type == "m.room.message"]

    def reactions(self) -> list[tuple[str, str]]:
        return [
            (m.content["m.relates_to"]["event_id"], m.content["m.relates_to"]["key"])
            for m in self.sent()
            if m.event_type == "m.reaction"
        ]

    def stored(self) -> list[ProposalView]:
        with self.database.session() as session:
            return ProposalRepository(session).list(ROOM)


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Harness]:
    database = Database.from_url(f"sqlite:///{tmp_path / 'concerto.db'}")
    database.migrate()
    yield Harness(database)
    database.close()


async def test_proposals_command_records_acks_and_replies_with_id(bot: Harness) -> None:
    asked = await bot.say(ALICE, "!proposition Un tiers-lieu par canton #TiersLieux #ESS")
    (view,) = bot.stored()
    assert view.text == "Un tiers-lieu par canton #TiersLieux #ESS"
    assert [t.display for t in view.tags] == ["TiersLieux", "ESS"]
    assert view.event_id == asked and view.author == ALICE
    assert bot.reactions() == [(asked, proposals.ACK_KEY)]
    (notice,) = bot.notices()
    assert notice["body"] == f"Proposition {view.short_id} enregistrée (#TiersLieux, #ESS)."
    assert notice["m.relates_to"]["m.in_reply_to"]["event_id"] == asked


async def test_proposals_hashtag_capture_reacts_without_message(bot: Harness) -> None:
    said = await bot.say(BOB, "Des bancs partout #proposition #Numérique")
    await bot.say(BOB, "Juste une discussion #numérique")
    (view,) = bot.stored()
    assert view.event_id == said
    assert [t.folded for t in view.tags] == ["numerique"]
    assert bot.reactions() == [(said, proposals.ACK_KEY)]
    assert bot.notices() == []


async def test_proposals_backlog_message_is_still_recorded(bot: Harness) -> None:
    old = to_millis(NOW - timedelta(hours=2))
    said = await bot.say(BOB, "Pendant la panne #proposal #climat", ts=old)
    (view,) = bot.stored()
    assert view.event_id == said and view.created_at == NOW - timedelta(hours=2)
    assert bot.reactions() == [(said, proposals.ACK_KEY)]


@pytest.mark.parametrize(
    "body",
    ["#proposition", "#proposition #ess", "x" * (MAX_PROPOSAL_LENGTH + 1) + " #proposition"],
)
async def test_proposals_passive_refusals_are_answered_and_nothing_stored(
    bot: Harness, body: str
) -> None:
    said = await bot.say(ALICE, body)
    assert bot.stored() == []
    assert bot.reactions() == []
    (notice,) = bot.notices()
    assert "proposition" in notice["body"].lower()
    assert notice["m.relates_to"]["m.in_reply_to"]["event_id"] == said


@pytest.mark.parametrize("body", ["!proposition", "!proposal #ess", "!propose " + "y" * 2001])
async def test_proposals_command_refusals_are_answered_and_nothing_stored(
    bot: Harness, body: str
) -> None:
    await bot.say(ALICE, body)
    assert bot.stored() == []
    assert bot.reactions() == []
    assert len(bot.notices()) == 1


async def test_proposals_duplicate_by_same_person_is_refused(bot: Harness) -> None:
    await bot.say(ALICE, "!proposition Des bancs #ess")
    await bot.say(ALICE, "des  BANCS #ess #proposition")
    await bot.say(BOB, "Des bancs #ess #proposition")  # someone else may say the same
    assert [v.author for v in bot.stored()] == [BOB, ALICE]
    refusal = bot.notices()[-1]["body"]
    assert "déjà" in refusal and bot.stored()[1].short_id in refusal


async def test_proposals_supports_once_author_ignored_and_removal(bot: Harness) -> None:
    said = await bot.say(ALICE, "Des bancs #proposition")
    await bot.react(ALICE, said, "👍")  # the author's own
    first = await bot.react(BOB, said, "👍")
    second = await bot.react(BOB, said, "👍️")  # with U+FE0F
    await bot.react(BOB, said, "👍🏽")  # skin tone
    await bot.react(BOB, said, "🎉")
    assert bot.stored()[0].supports == 1
    await bot.redact(BOB, first)
    assert bot.stored()[0].supports == 1
    await bot.redact(BOB, second)
    assert bot.stored()[0].supports == 1  # the 👍🏽 remains
    assert bot.notices() == []


async def test_proposals_organiser_marks_and_member_marks_ignored(bot: Harness) -> None:
    said = await bot.say(ALICE, "Des bancs #proposition")
    await bot.react(BOB, said, "⭐")
    assert bot.stored()[0].status == "open"
    star = await bot.react(ORGANISER, said, "⭐")
    assert bot.stored()[0].status == "retained"
    aside = await bot.react(ORGANISER, said, "🗄️")
    assert bot.stored()[0].status == "set_aside"
    await bot.redact(ORGANISER, aside)
    assert bot.stored()[0].status == "retained"
    await bot.redact(ORGANISER, star)
    assert bot.stored()[0].status == "open"


async def test_proposals_edit_by_author_updates_text_and_tags(bot: Harness) -> None:
    said = await bot.say(ALICE, "Des bancs #proposition #ess")
    await bot.edit(BOB, said, "Hijack #proposition #autre")  # not the author: ignored
    assert bot.stored()[0].text == "Des bancs #proposition #ess"
    await bot.edit(ALICE, said, "Des bancs en bois #climat")  # marker dropped: still kept
    (view,) = bot.stored()
    assert view.text == "Des bancs en bois #climat"
    assert [t.folded for t in view.tags] == ["climat"]


async def test_proposals_edit_of_command_proposal_drops_command_name(bot: Harness) -> None:
    said = await bot.say(ALICE, "!proposal Des bancs #ess")
    await bot.edit(ALICE, said, "!proposal Des tables #ess #bois")
    (view,) = bot.stored()
    assert view.text == "Des tables #ess #bois"
    assert len(bot.notices()) == 1  # the edit did not run the command again


async def test_proposals_invalid_edit_is_refused_and_old_text_kept(bot: Harness) -> None:
    said = await bot.say(ALICE, "Des bancs #proposition")
    await bot.edit(ALICE, said, "#proposition")
    assert bot.stored()[0].text == "Des bancs #proposition"
    (notice,) = bot.notices()
    assert "n’a pas été prise en compte" in notice["body"]
    assert notice["m.relates_to"]["m.in_reply_to"]["event_id"] == said


async def test_proposals_redaction_deletes_the_proposal(bot: Harness) -> None:
    said = await bot.say(ALICE, "Des bancs #proposition")
    await bot.react(BOB, said, "👍")
    await bot.redact(ALICE, said)
    assert bot.stored() == []


async def test_proposals_list_filters_by_folded_tag_and_synonyms(bot: Harness) -> None:
    with bot.database.session() as session:
        RoomSettingsRepository(session).update(ROOM, tag_synonyms={"ess": "economiesociale"})
    await bot.say(ALICE, "Fibre partout #proposition #numérique")
    await bot.say(BOB, "Médiation #proposition #Numérique")
    await bot.say(BOB, "Coopératives #proposition #ESS")
    await bot.say(ALICE, "Climat d'abord #proposition #climat")
    await bot.say(ALICE, "!propositions #Numerique")
    listing = bot.notices()[-1]
    assert "Propositions avec #numérique (2)" in listing["body"]
    assert "Fibre partout" in listing["body"] and "Médiation" in listing["body"]
    assert "Climat" not in listing["body"]
    # tags show in one spelling (the most used; ties go to the first written)
    assert "par Bob · #numérique ·" in listing["body"]
    await bot.say(ALICE, "!propositions #économie-sociale")
    assert "Coopératives" in bot.notices()[-1]["body"]
    await bot.say(ALICE, "!propositions")
    body = bot.notices()[-1]["body"]
    assert body.index("Climat") < body.index("Fibre")  # newest first
    assert "par Alice" in body and "👍 0" in body and "en discussion" in body
    assert "https://matrix.to/#/!room:example.org/$e1" in body


async def test_proposals_list_paginates(bot: Harness) -> None:
    for n in range(12):
        await bot.say(ALICE, f"Idée numéro {n} #proposition")
    await bot.say(BOB, "!propositions")
    body = bot.notices()[-1]["body"]
    assert "Idée numéro 11" in body and "Idée numéro 1 " not in body
    assert "Page 1 sur 2" in body and "!propositions page 2" in body
    await bot.say(BOB, "!propositions page: 2")
    body = bot.notices()[-1]["body"]
    assert "Idée numéro 1 " in body and "Idée numéro 0" in body and "numéro 11" not in body
    await bot.say(BOB, "!propositions page 9")
    assert "Il n’y a pas de page 9" in bot.notices()[-1]["body"]
    await bot.say(BOB, "!propositions page deux")
    assert "numéro de page" in bot.notices()[-1]["body"]


async def test_proposals_list_empty_and_bad_filter(bot: Harness) -> None:
    await bot.say(BOB, "!propositions")
    assert "Aucune proposition dans ce salon" in bot.notices()[-1]["body"]
    await bot.say(BOB, "!propositions #eau")
    assert "Aucune proposition avec #eau" in bot.notices()[-1]["body"]
    await bot.say(BOB, "!propositions ???")
    assert "n’est pas un tag" in bot.notices()[-1]["body"]


async def test_proposals_list_escapes_html(bot: Harness) -> None:
    await bot.say(ALICE, "<script>alert(1)</script> <b>gras</b> #proposition")
    await bot.say(ALICE, "!propositions")
    listing = bot.notices()[-1]
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
    await bot.say(ALICE, "Premier #proposition #ess")
    await bot.say(BOB, "Deuxième #proposition #ESS")
    await bot.say(ALICE, "Troisième #proposition #ESS")
    await bot.say(BOB, "!propositions #Ess")
    body = bot.notices()[-1]["body"]
    assert "Propositions avec #ESS (3)" in body
    assert "· #ess ·" not in body and body.count("· #ESS ·") == 3
