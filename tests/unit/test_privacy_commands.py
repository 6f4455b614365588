"""`!confidentialité`, `!mes-données` and `!oublie-moi` through the real router and intake,
checking both what the bot sends and what the database keeps afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from harness import ROOM, Harness, RecordingSender
from sqlmodel import select

from bot.runtime.clock import to_millis
from storage.agenda_models import AgendaItem, EventRsvp
from storage.models import OutboxMessage
from storage.poll_models import Poll, PollBallot
from storage.privacy_models import PrivacyDirectRoom, PrivacyErasedProposal, PrivacyForgetRequest
from storage.proposal_models import Proposal, ProposalReaction, ProposalTag
from storage.proposals import ProposalRepository, TagSpelling

ALICE = "@alice:test"
BOB = "@bob:test"
DM = "!dm-alice:test"
ALICE_TEXT = "Un tiers-lieu dans chaque canton"


@dataclass
class FakeHomeserver(RecordingSender):
    """The recording sender, answering the calls the privacy feature makes to open a direct
    room."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    state: str = "join"  # the person's membership in the direct room

    async def membership(self, room_id: str, user_id: str) -> str | None:
        self.calls.append(("membership", room_id, user_id))
        return self.state

    async def invite(self, room_id: str, user_id: str) -> bool:
        self.calls.append(("invite", room_id, user_id))
        return True

    async def create_direct_room(self, user_id: str, *, encrypted: bool) -> str | None:
        self.calls.append(("create_direct_room", user_id, encrypted))
        return DM


@pytest.fixture
def sender() -> FakeHomeserver:
    return FakeHomeserver()


def rows(bot: Harness, model: Any) -> list[Any]:
    with bot.database.session() as session:
        return list(session.exec(select(model)))


async def command(bot: Harness, sender: str, body: str) -> list[dict[str, Any]]:
    """Send a command; everything the bot did (uploads included)."""
    event = bot.message(sender, body)
    return await bot.deliver(event)


def seed(bot: Harness) -> dict[str, int]:
    """Alice proposes, supports Bob's proposal, votes in a poll and answers an event."""
    now = bot.clock.now()
    with bot.database.session() as session:
        proposals = ProposalRepository(session)
        mine = proposals.add(
            room_id=ROOM,
            event_id="$alice-proposal",
            author=ALICE,
            text=ALICE_TEXT + " #tierslieux #ESS",
            tags=[TagSpelling("tierslieux", "tierslieux"), TagSpelling("ESS", "ess")],
            source="command",
            created_at=now,
        )
        bobs = proposals.add(
            room_id=ROOM,
            event_id="$bob-proposal",
            author=BOB,
            text="Des vélos partout #mobilité",
            tags=[TagSpelling("mobilité", "mobilite")],
            source="message",
            created_at=now,
        )
        proposals.add_reaction(
            bobs, reaction_event_id="$alice-thumb", user_id=ALICE, kind="support", at=now
        )
        proposals.add_reaction(
            mine, reaction_event_id="$bob-thumb", user_id=BOB, kind="support", at=now
        )
        poll = Poll(
            room_id=ROOM,
            author=BOB,
            question="Quel jour ?",
            answers=[["a1", "Lundi"], ["a2", "Mardi"]],
            created_at=now,
        )
        session.add(poll)
        session.flush()
        assert poll.id is not None
        session.add(
            PollBallot(
                poll_id=poll.id, voter=ALICE, ts=to_millis(now), event_id="$v", selections=["a2"]
            )
        )
        item = AgendaItem(
            kind="event",
            room_id=ROOM,
            title="Journée numérique",
            starts_at=now + timedelta(days=10),
            timezone="Europe/Paris",
            author=BOB,
            created_at=now,
        )
        session.add(item)
        session.flush()
        assert item.id is not None
        session.add(
            EventRsvp(
                item_id=item.id,
                user_id=ALICE,
                answer="going",
                reaction_event_id="$rsvp",
                answered_at=now,
            )
        )
        assert mine.id is not None and bobs.id is not None
        return {"mine": mine.id, "bobs": bobs.id}


async def test_privacy_notice_says_what_who_how_long_and_the_commands(bot):
    [body] = await bot.say(BOB, "!confidentialité")
    assert "Ce que Concerto conserve à votre sujet" in body
    assert "365 jours" in body
    assert "!mes-données" in body and "!oublie-moi" in body
    assert "identifiant Matrix" in body


@pytest.mark.parametrize("language", ["en"])
async def test_privacy_notice_in_an_english_room(bot):
    [body] = await bot.say(BOB, "!privacy")
    assert "365 days" in body
    assert "!my-data" in body and "!forget-me" in body


async def test_privacy_my_data_sends_a_json_file_and_a_summary_in_a_reused_direct_room(bot):
    seed(bot)
    sent = await command(bot, ALICE, "!mes-données")
    upload = next(item for item in sent if item["type"] == "upload")
    assert upload["content_type"] == "application/json"
    data = json.loads(upload["data"])
    assert data["user_id"] == ALICE
    [proposal] = data["proposals"]
    assert proposal["text"].startswith(ALICE_TEXT)
    assert proposal["tags"] == ["tierslieux", "ESS"]
    assert proposal["supports"] == 1
    assert [r["kind"] for r in data["proposal_reactions"]] == ["support"]
    assert data["poll_votes"][0]["answers"] == ["Mardi"]
    assert data["rsvps"][0]["answer"] == "going"
    messages = [item for item in sent if item["type"] == "m.room.message"]
    summary = next(
        m for m in messages if m["room_id"] == DM and m["content"]["msgtype"] == "m.notice"
    )
    assert ALICE_TEXT in summary["content"]["body"]
    assert "Vos votes aux sondages (1)" in summary["content"]["body"]
    file = next(m for m in messages if m["content"]["msgtype"] == "m.file")
    assert file["room_id"] == DM
    assert file["content"]["info"]["mimetype"] == "application/json"
    assert file["content"]["url"].startswith("mxc://")
    reply = next(m for m in messages if m["room_id"] == ROOM)
    assert "message privé" in reply["content"]["body"]
    assert [(r.user_id, r.room_id) for r in rows(bot, PrivacyDirectRoom)] == [(ALICE, DM)]
    # Asked again: the same direct room is reused, no new room is created.
    await command(bot, ALICE, "!my-data")
    creations = [call for call in bot.sender.calls if call[0] == "create_direct_room"]
    assert creations == [("create_direct_room", ALICE, False)]


async def test_privacy_my_data_invites_back_a_person_who_left_the_direct_room(bot):
    await command(bot, ALICE, "!mes-données")
    bot.sender.state = "leave"
    await command(bot, ALICE, "!mes-données")
    invites = [call for call in bot.sender.calls if call[0] == "invite"]
    assert invites == [("invite", DM, ALICE)]


async def test_privacy_forget_me_needs_a_confirmation_within_five_minutes(bot):
    ids = seed(bot)
    [body] = await bot.say(ALICE, "!oublie-moi")
    assert "dans les 5 minutes" in body and "!oublie-moi" in body
    assert [r.user_id for r in rows(bot, PrivacyForgetRequest)] == [ALICE]
    bot.clock.advance(timedelta(minutes=6))
    [body] = await bot.say(ALICE, "!oublie-moi")  # too late: asks again, erases nothing
    assert "dans les 5 minutes" in body
    assert {p.author for p in rows(bot, Proposal)} == {ALICE, BOB}
    bot.clock.advance(timedelta(minutes=2))
    [body] = await bot.say(ALICE, "!forget-me")
    assert "C'est fait" in body
    assert "« supprimé à la demande de l'auteur »" in body
    assert "restent tels quels" in body  # honest about what was already posted

    proposals = {p.id: p for p in rows(bot, Proposal)}
    mine = proposals[ids["mine"]]
    assert mine.text == "« supprimé à la demande de l'auteur »"
    assert mine.author == "anonyme"
    assert [t.proposal_id for t in rows(bot, ProposalTag)] == [ids["bobs"]]
    assert proposals[ids["bobs"]].text.startswith("Des vélos")
    reactions = rows(bot, ProposalReaction)
    assert ALICE not in {r.user_id for r in reactions}
    assert [(r.proposal_id, r.user_id) for r in reactions] == [(ids["mine"], BOB)]
    assert rows(bot, PollBallot) == []
    assert rows(bot, EventRsvp) == []
    assert [e.proposal_id for e in rows(bot, PrivacyErasedProposal)] == [ids["mine"]]
    assert rows(bot, PrivacyForgetRequest) == []
    for message in rows(bot, OutboxMessage):
        assert ALICE_TEXT not in json.dumps(message.content, ensure_ascii=False)

    [listing] = await bot.say(BOB, "!propositions")
    assert "« supprimé à la demande de l'auteur »" in listing
    assert ALICE_TEXT not in listing and "Des vélos" in listing


async def test_privacy_forget_me_scrubs_the_bots_copy_of_messages_that_showed_the_text(bot):
    seed(bot)
    [listing] = await bot.say(BOB, "!propositions")
    assert ALICE_TEXT in listing
    await command(bot, ALICE, "!mes-données")
    await bot.say(ALICE, "!oublie-moi")
    await bot.say(ALICE, "!oublie-moi")
    stored = " ".join(json.dumps(m.content, ensure_ascii=False) for m in rows(bot, OutboxMessage))
    assert ALICE_TEXT not in stored and ALICE not in stored
    assert rows(bot, PrivacyDirectRoom) == []
    # Later exports show nothing of her: the erased proposal is no longer hers.
    sent = await command(bot, ALICE, "!mes-données")
    data = json.loads(next(item for item in sent if item["type"] == "upload")["data"])
    assert data["proposals"] == [] and data["poll_votes"] == [] and data["rsvps"] == []


@pytest.mark.parametrize("language", ["en"])
async def test_privacy_forget_me_in_an_english_room_writes_the_english_form(bot):
    seed(bot)
    await bot.say(ALICE, "!forget-me")
    [body] = await bot.say(ALICE, "!forget-me")
    assert "(deleted at the author's request)" in body
    texts = {p.author: p.text for p in rows(bot, Proposal)}
    assert texts["anonymous"] == "(deleted at the author's request)"
