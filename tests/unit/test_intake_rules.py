"""The intake rules, through the real router and handlers with a recording sender."""

from __future__ import annotations

from datetime import timedelta

import pytest
from harness import ROOM, Harness
from sqlmodel import select

from storage.models import ProcessedEvent, RoomSettings

ALICE = "@alice:test"
ORGANISER = "@orga:test"


@pytest.fixture
def harness(database, clock) -> Harness:
    h = Harness(database, clock)
    h.levels[ORGANISER] = 50
    return h


async def test_help_lists_only_what_a_member_may_use(harness):
    member_help = "\n".join(await harness.say(ALICE, "!aide"))
    organiser_help = "\n".join(await harness.say(ORGANISER, "!help"))
    assert "Commandes que vous pouvez utiliser ici" in member_help
    assert "d'autres commandes" in member_help
    assert "d'autres commandes" not in organiser_help


async def test_command_older_than_five_minutes_is_not_answered(harness):
    assert await harness.say(ALICE, "!aide", age=timedelta(minutes=6)) == []
    assert await harness.say(ALICE, "!aide", age=timedelta(minutes=4)) != []


async def test_same_event_delivered_twice_is_answered_once(harness):
    event = harness.event(ALICE, "m.room.message", {"msgtype": "m.text", "body": "!aide"})
    assert len(await harness.deliver(event)) == 1
    assert await harness.deliver(event) == []


async def test_notices_edits_and_own_events_are_not_commands(harness):
    notice = harness.event(ALICE, "m.room.message", {"msgtype": "m.notice", "body": "!aide"})
    edit = harness.event(
        ALICE,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* !aide",
            "m.new_content": {"msgtype": "m.text", "body": "!aide"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"},
        },
    )
    own = harness.event("@concerto:test", "m.room.message", {"msgtype": "m.text", "body": "!aide"})
    assert await harness.deliver(notice, edit, own) == []


async def test_reply_fallback_is_stripped_before_parsing(harness):
    body = "> <@bob:test> something\n> more\n\n!aide"
    assert "Commandes" in (await harness.say(ALICE, body))[0]


async def test_user_error_changes_nothing_and_is_answered(harness, database):
    replies = await harness.say(ORGANISER, "!réglages fuseau Mars/Olympus")
    assert "Fuseau horaire inconnu" in replies[0]
    with database.session() as session:
        assert (
            session.get(RoomSettings, ROOM) is None
            or session.get(RoomSettings, ROOM).timezone is None
        )


async def test_member_is_refused_settings_change(harness, database):
    replies = await harness.say(ALICE, "!réglages langue en")
    assert "Seuls les organisateurs" in replies[0]
    assert "Réglage" not in replies[0] or "modifié" not in replies[0]


async def test_organiser_changes_language_and_is_answered_in_it(harness):
    assert await harness.say(ORGANISER, "!réglages langue en") == ["Setting langue changed."]
    assert "Commands you can use here" in (await harness.say(ALICE, "!aide"))[0]


async def test_unknown_command_suggests_the_closest(harness):
    reply = (await harness.say(ALICE, "!agde"))[0]
    assert "Vouliez-vous dire !aide" in reply


async def test_handler_crash_is_logged_answered_and_recorded(harness, database):
    command = harness.registry.find("aide")
    assert command is not None

    async def broken(ctx):
        raise RuntimeError("boom")

    object.__setattr__(command, "handler", broken)  # commands are frozen: swap for this test
    event = harness.event(ALICE, "m.room.message", {"msgtype": "m.text", "body": "!aide"})
    sent = await harness.deliver(event)
    assert "incident" in sent[0]["content"]["body"]
    assert "boom" not in sent[0]["content"]["body"]
    with database.session() as session:
        assert session.exec(select(ProcessedEvent)).first() is not None


async def test_replies_never_ping_and_escape_user_text(harness):
    event = harness.event(ALICE, "m.room.message", {"msgtype": "m.text", "body": "!<b>@room</b>"})
    sent = await harness.deliver(event)
    content = sent[0]["content"]
    assert content["m.mentions"] == {}
    assert "<b>@room</b>" not in content["formatted_body"]
    assert "&lt;b&gt;" in content["formatted_body"]
    assert content["msgtype"] == "m.notice"


async def test_backlog_proposal_command_is_recorded_without_a_reply(harness, database):
    from storage.proposals import ProposalRepository

    event = harness.event(
        ALICE,
        "m.room.message",
        {"msgtype": "m.text", "body": "!proposition Un tiers-lieu par canton #ess"},
        age=timedelta(minutes=30),
    )
    sent = await harness.deliver(event)
    assert [item["type"] for item in sent] == ["m.reaction"]
    with database.session() as session:
        assert len(ProposalRepository(session).list(ROOM)) == 1


async def test_cancel_command_also_cancels_polls(harness):
    started = await harness.say(ALICE, "!sondage Quel jour ? ; mardi ; jeudi ; fin: demain 18h")
    assert any("S1" in body for body in started)
    replies = await harness.say(ALICE, "!annuler S1")
    assert replies and "S1" in replies[-1]
    again = await harness.say(ALICE, "!annuler S1")
    assert again and "S1" in again[-1] and again[-1] != replies[-1]
