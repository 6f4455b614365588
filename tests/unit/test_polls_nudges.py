"""Nudges (`!réglages relances on`): a day before a poll or decision closes, one message
mentioning exactly the members who have not answered, never those who opted out, never twice,
never in rooms above the cap, and only where the room asked for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from harness import BOT, ROOM, Harness
from sqlmodel import select

from bot.runtime.clock import FrozenClock
from storage.models import ScheduledTask
from storage.polls import PollRepository

AUTHOR = "@alice:test"
ORGANISER = "@orga:test"
START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)
MEMBERS = [BOT, ORGANISER, AUTHOR, "@bob:test", "@carol:test", "@erin:test"]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 100}


def nudges_sent(bot: Harness) -> list[dict]:
    return [m for m in bot.sender.sent if "Pas encore répondu" in m["content"].get("body", "")]


async def fire_at(bot: Harness, moment: datetime) -> None:
    bot.clock.set(moment)
    await bot.timers.fire_due()
    await bot.outbox.send_due()


async def test_nudge_mentions_exactly_the_non_voters_once(bot: Harness):
    bot.sender.members[ROOM] = MEMBERS
    [changed] = await bot.say(ORGANISER, "!réglages relances on")
    assert "relances" in changed
    [out] = await bot.say("@erin:test", "!pas-de-relance")
    assert "ne vous mentionneront plus" in out
    await bot.say(AUTHOR, "!décision Pique-nique samedi ; fin: dans 3 jours")
    with bot.database.session() as session:
        decision = PollRepository(session).get(1)
        assert decision is not None and decision.notice_event_id is not None
        message = decision.notice_event_id
    await bot.deliver(bot.reaction("@bob:test", message, "✅"))
    await fire_at(bot, START + timedelta(days=2, minutes=1))
    [nudge] = nudges_sent(bot)
    content = nudge["content"]
    assert content["msgtype"] == "m.text"  # notifies, unlike notices
    # not bob (voted), not erin (opted out), not the bot
    assert content["m.mentions"] == {"user_ids": [AUTHOR, "@carol:test", ORGANISER]}
    assert "La décision S1 « Pique-nique samedi » se clôt" in content["body"]
    assert "Pas encore répondu : Alice, Carol, Orga" in content["body"]
    assert 'href="https://matrix.to/#/@alice:test"' in content["formatted_body"]
    assert "@room" not in content["body"]
    await fire_at(bot, START + timedelta(days=2, hours=5))
    assert len(nudges_sent(bot)) == 1  # once per poll


async def test_nudge_only_where_asked_and_below_the_cap(bot: Harness):
    bot.sender.members[ROOM] = MEMBERS
    await bot.say(AUTHOR, "!sondage Q ; a ; b ; fin: dans 3 jours")  # nudges are off by default
    await fire_at(bot, START + timedelta(days=2, minutes=1))
    assert nudges_sent(bot) == []
    await bot.say(ORGANISER, "!réglages relances on 4")  # 5 people here: too many
    await bot.say(AUTHOR, "!sondage Q2 ; a ; b ; fin: dans 4 jours")
    await fire_at(bot, START + timedelta(days=3, minutes=2))
    assert nudges_sent(bot) == []
    [view] = await bot.say(AUTHOR, "!réglages")
    assert "activées, dans les salons de 4 membres au plus" in view


async def test_nudge_not_planned_for_a_close_within_a_day_and_cancelled_by_the_close(bot: Harness):
    await bot.say(AUTHOR, "!sondage Q ; a ; b ; fin: dans 20 heures")
    await bot.say(AUTHOR, "!sondage Q2 ; a ; b ; fin: dans 3 jours")
    await bot.say(AUTHOR, "!clore S2")
    with bot.database.session() as session:
        tasks = {t.key: t.status for t in session.exec(select(ScheduledTask))}
    assert "poll_nudge:S1" not in tasks
    assert tasks["poll_nudge:S2"] == "cancelled"


async def test_nudge_opt_out_and_back_in(bot: Harness):
    [first] = await bot.say("@bob:test", "!no-nudge")
    [again] = await bot.say("@bob:test", "!pas-de-relance")
    assert "ne vous mentionnent déjà pas" in again and first != again
    [back] = await bot.say("@bob:test", "!relance-moi")
    assert "peuvent de nouveau vous mentionner" in back
    [already] = await bot.say("@bob:test", "!nudge-me")
    assert "peuvent déjà vous mentionner" in already


@pytest.mark.parametrize("value", ["peut-être", "on beaucoup", "on 1", "off 3"])
async def test_nudge_setting_refuses_bad_values(bot: Harness, value):
    [answer] = await bot.say(ORGANISER, f"!réglages relances {value}")
    assert "Les relances sont on ou off" in answer, answer


async def test_deadline_nudge_mentions_who_has_not_proposed_since_it_was_announced(bot: Harness):
    bot.sender.members[ROOM] = MEMBERS
    await bot.say("@bob:test", "!proposition Avant l'échéance #vieux")  # before: does not count
    bot.clock.set(START + timedelta(minutes=1))
    await bot.say(ORGANISER, "!réglages relances on")
    await bot.say("@erin:test", "!pas-de-relance")
    await bot.say(ORGANISER, "!échéance Dépôt des idées ; dans 3 jours")
    await bot.say(AUTHOR, "!proposition Un jardin partagé #jardin")
    await bot.say("@carol:test", "Une idée #proposition #vélo")  # captured from a message
    await fire_at(bot, START + timedelta(days=2, minutes=1))
    [nudge] = [
        m for m in bot.sender.sent if "Pas encore de proposition" in m["content"].get("body", "")
    ]
    assert nudge["content"]["m.mentions"] == {"user_ids": ["@bob:test", ORGANISER]}
    assert "L’échéance D1 « Dépôt des idées » est" in nudge["content"]["body"]
    await fire_at(bot, START + timedelta(days=2, hours=6))
    assert (
        len(
            [
                m
                for m in bot.sender.sent
                if "Pas encore de proposition" in m["content"].get("body", "")
            ]
        )
        == 1
    )


async def test_deadline_nudge_cancelled_with_the_deadline(bot: Harness):
    await bot.say(ORGANISER, "!réglages relances on")
    await bot.say(ORGANISER, "!échéance Dépôt ; dans 3 jours")
    await bot.say(ORGANISER, "!annuler D1")
    with bot.database.session() as session:
        tasks = {t.key: t.status for t in session.exec(select(ScheduledTask))}
    assert tasks["reminder:D1:nudge"] == "cancelled"
