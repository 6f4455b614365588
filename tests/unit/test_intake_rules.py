"""The intake rules, through the real router and handlers with a recording sender."""

from __future__ import annotations

from datetime import timedelta

import pytest
from harness import ROOM
from sqlmodel import select

from storage.models import ProcessedEvent, RoomSettings

ALICE = "@alice:test"
ORGANISER = "@orga:test"


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 50}


async def test_help_lists_only_what_a_member_may_use(bot):
    member_help = "\n".join(await bot.say(ALICE, "!aide"))
    organiser_help = "\n".join(await bot.say(ORGANISER, "!help"))
    assert "Commandes que vous pouvez utiliser ici" in member_help
    assert "d'autres commandes" in member_help
    assert "d'autres commandes" not in organiser_help


async def test_command_older_than_five_minutes_is_not_answered(bot):
    assert await bot.say(ALICE, "!aide", age=timedelta(minutes=6)) == []
    assert await bot.say(ALICE, "!aide", age=timedelta(minutes=4)) != []


async def test_same_event_delivered_twice_is_answered_once(bot):
    event = bot.message(ALICE, "!aide")
    assert len(await bot.deliver(event)) == 1
    assert await bot.deliver(event) == []


async def test_notices_edits_and_own_events_are_not_commands(bot):
    notice = bot.event(ALICE, "m.room.message", {"msgtype": "m.notice", "body": "!aide"})
    edit = bot.event(
        ALICE,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* !aide",
            "m.new_content": {"msgtype": "m.text", "body": "!aide"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"},
        },
    )
    own = bot.message("@concerto:test", "!aide")
    assert await bot.deliver(notice, edit, own) == []


async def test_reply_fallback_is_stripped_before_parsing(bot):
    body = "> <@bob:test> something\n> more\n\n!aide"
    assert "Commandes" in (await bot.say(ALICE, body))[0]


async def test_user_error_changes_nothing_and_is_answered(bot, database):
    replies = await bot.say(ORGANISER, "!réglages fuseau Mars/Olympus")
    assert "Fuseau horaire inconnu" in replies[0]
    with database.session() as session:
        assert (
            session.get(RoomSettings, ROOM) is None
            or session.get(RoomSettings, ROOM).timezone is None
        )


async def test_member_is_refused_settings_change(bot, database):
    replies = await bot.say(ALICE, "!réglages langue en")
    assert "Seuls les organisateurs" in replies[0]
    assert "Réglage" not in replies[0] or "modifié" not in replies[0]


async def test_organiser_changes_language_and_is_answered_in_it(bot):
    assert await bot.say(ORGANISER, "!réglages langue en") == ["Setting langue changed."]
    assert "Commands you can use here" in (await bot.say(ALICE, "!aide"))[0]


async def test_unknown_command_suggests_the_closest(bot):
    reply = (await bot.say(ALICE, "!agde"))[0]
    assert "Vouliez-vous dire !aide" in reply


async def test_handler_crash_is_logged_answered_and_recorded(bot, database):
    command = bot.registry.find("aide")
    assert command is not None

    async def broken(ctx):
        raise RuntimeError("boom")

    object.__setattr__(command, "handler", broken)  # commands are frozen: swap for this test
    event = bot.message(ALICE, "!aide")
    sent = await bot.deliver(event)
    assert "incident" in sent[0]["content"]["body"]
    assert "boom" not in sent[0]["content"]["body"]
    with database.session() as session:
        assert session.exec(select(ProcessedEvent)).first() is not None


async def test_replies_never_ping_and_escape_user_text(bot):
    event = bot.message(ALICE, "!<b>@room</b>")
    sent = await bot.deliver(event)
    content = sent[0]["content"]
    assert content["m.mentions"] == {}
    assert "<b>@room</b>" not in content["formatted_body"]
    assert "&lt;b&gt;" in content["formatted_body"]
    assert content["msgtype"] == "m.notice"


async def test_backlog_proposal_command_is_recorded_without_a_reply(bot, database):
    from storage.proposals import ProposalRepository

    event = bot.event(
        ALICE,
        "m.room.message",
        {"msgtype": "m.text", "body": "!proposition Un tiers-lieu par canton #ess"},
        age=timedelta(minutes=30),
    )
    sent = await bot.deliver(event)
    assert [item["type"] for item in sent] == ["m.reaction"]
    with database.session() as session:
        assert len(ProposalRepository(session).list(ROOM)) == 1


async def test_cancel_command_also_cancels_polls(bot):
    started = await bot.say(ALICE, "!sondage Quel jour ? ; mardi ; jeudi ; fin: demain 18h")
    assert any("S1" in body for body in started)
    replies = await bot.say(ALICE, "!annuler S1")
    assert replies and "S1" in replies[-1]
    again = await bot.say(ALICE, "!annuler S1")
    assert again and "S1" in again[-1] and again[-1] != replies[-1]
