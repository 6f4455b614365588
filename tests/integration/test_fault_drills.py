"""Fault drills: the bot is SIGKILLed at random moments, or the homeserver disappears for 30 s,
in the middle of real activity. Afterwards every reminder and poll result was sent exactly
once, and no proposal or vote was lost.

Each kill drill is seeded (``random.Random(seed)``): a failing seed replays the same kill
times. Events are counted in the room after a marker (so everything the bot sent before its
final polite stop is included), and the bot's SQLite is opened read-only.
"""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from concerto_bot import BotProcess
from conftest import joined
from matrix_people import MARKER_EVENT_TYPE, Person, of_type, reaction_to, reply_to, text

from bot.tools.local_homeserver import LocalHomeserver

POLL_START = "org.matrix.msc3381.poll.start"
POLL_RESPONSE = "org.matrix.msc3381.poll.response"
POLL_END = "org.matrix.msc3381.poll.end"
RECORDED = "📝"
KILL_SEEDS = range(10)
PROPOSALS = 4
POLL_CLOSES = "dans 8 secondes"
DEADLINE = "dans 66 secondes"  # with a reminder 1 min before: due 6 s after the command
KILL_WINDOW = (0.2, 9.0)  # seconds after the first command
DOWNTIME = (0.1, 1.5)
OUTAGE_SECONDS = 30
DRILL_TASKS = "key LIKE 'reminder:%' OR key LIKE 'poll_close:%'"  # other features add their own

Event = dict[str, Any]


# ---------------------------------------------------------------------- helpers


def stored(bot: BotProcess, query: str) -> list[tuple[Any, ...]]:
    path = bot.directory / "data" / "concerto.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        return connection.execute(query).fetchall()


async def settle(bot: BotProcess, person: Person, room_id: str) -> list[Event]:
    """Stop the bot politely, then return every event of the room up to a fresh marker."""
    await bot.stop()
    marker = await person.send_event(room_id, MARKER_EVENT_TYPE, {"marker": "settled"})
    await person.wait_for(room_id, lambda e: e.get("event_id") == marker)
    events = person.events(room_id)
    return events[: [e.get("event_id") for e in events].index(marker)]


def count(events: list[Event], predicate: Callable[[Event], bool]) -> int:
    return sum(1 for event in events if predicate(event))


def poll_response(poll_event_id: str, answer_id: str) -> dict[str, Any]:
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        POLL_RESPONSE: {"answers": [answer_id]},
    }


def assert_nothing_pending(bot: BotProcess) -> None:
    outbox = stored(bot, "SELECT key, status FROM outbox_message WHERE status != 'sent'")
    assert outbox == [], f"outbox not drained: {outbox}"
    keys = stored(bot, "SELECT key FROM outbox_message")
    assert len(keys) == len({key for (key,) in keys})


# ---------------------------------------------------------------------- SIGKILL drill


async def kill_and_restart(bot: BotProcess, rng: random.Random, log: list[str]) -> None:
    """One or two SIGKILLs at seeded moments, each followed by a short downtime."""
    started = time.monotonic()
    moments = sorted(rng.uniform(*KILL_WINDOW) for _ in range(rng.choice((1, 2))))
    for moment in moments:
        await asyncio.sleep(max(0.0, moment - (time.monotonic() - started)))
        await bot.kill()
        downtime = rng.uniform(*DOWNTIME)
        log.append(f"killed at {time.monotonic() - started:.2f} s, down {downtime:.2f} s")
        await asyncio.sleep(downtime)
        bot.start()


@pytest.mark.parametrize("seed", KILL_SEEDS)
async def test_sigkill_at_random_moments_loses_nothing_and_repeats_nothing(
    seed: int, bot_room, make_person
):
    rng = random.Random(seed)
    bot, organiser, room_id = bot_room
    member = await make_person("member")
    await organiser.invite(room_id, member.user_id)
    await member.join(room_id)
    kills: list[str] = []
    killer = asyncio.create_task(kill_and_restart(bot, rng, kills))
    try:
        await organiser.send_text(
            room_id, f"!sondage Drill {seed} ? ; oui ; non ; fin: {POLL_CLOSES}"
        )
        await organiser.send_text(room_id, f"!échéance Dépôt {seed} ; {DEADLINE} ; rappels: 1min")
        proposals = []
        for index in range(PROPOSALS):
            author = organiser if index % 2 == 0 else member
            proposals.append(
                await author.send_text(room_id, f"!proposition Idée {seed}-{index} #exercice")
            )
            await asyncio.sleep(rng.uniform(0, 0.4))  # seeded pacing between messages
        # 60 s: a restarted bot's first line comes up to 20 s late on a busy machine
        start = await member.wait_for(room_id, of_type(POLL_START, sender=bot.user_id), 60)
        poll = start["event_id"]
        answers = [answer["id"] for answer in start["content"][POLL_START]["answers"]]
        votes = [
            await member.send_event(room_id, POLL_RESPONSE, poll_response(poll, answers[0])),
            await organiser.send_event(room_id, POLL_RESPONSE, poll_response(poll, answers[1])),
        ]
        await killer
        # The bot reads a room in order: once this is answered, both votes have been read.
        fence = await member.send_text(room_id, "!aide sondage")
        await member.wait_for(room_id, reply_to(bot.user_id, fence), 60)
        await organiser.wait_for(room_id, text(sender=bot.user_id, contains="Résultats"), 60)
        await organiser.wait_for(
            room_id, text(sender=bot.user_id, msgtype="m.text", contains=f"Dépôt {seed}"), 60
        )
        for proposal in proposals:
            await organiser.wait_for(room_id, reaction_to(proposal, RECORDED, sender=bot.user_id))
    finally:
        killer.cancel()
        print(f"seed {seed}: " + "; ".join(kills))

    events = await settle(bot, organiser, room_id)
    mine = [event for event in events if event.get("sender") == bot.user_id]
    where = f"seed {seed} ({'; '.join(kills)})"
    assert count(mine, of_type(POLL_START)) == 1, where
    assert count(mine, of_type(POLL_END)) == 1, where
    assert count(mine, text(contains="Résultats du sondage")) == 1, where
    assert count(mine, text(msgtype="m.notice", contains=f"Dépôt {seed}")) == 1, where
    assert count(mine, text(msgtype="m.text", contains=f"Dépôt {seed}")) == 1, where  # reminder
    for proposal in proposals:
        assert count(mine, reaction_to(proposal, RECORDED)) == 1, where
    assert count(mine, of_type("m.reaction")) == PROPOSALS, where

    saved = {event_id for (event_id,) in stored(bot, "SELECT event_id FROM proposal")}
    assert saved == set(proposals), where
    ballots = stored(bot, "SELECT voter, count(*) FROM poll_ballot GROUP BY voter")
    assert sorted(ballots) == sorted([(organiser.user_id, 1), (member.user_id, 1)]), where
    assert stored(bot, "SELECT status FROM poll") == [("closed",)], where
    tasks = stored(bot, f"SELECT status FROM scheduled_task WHERE {DRILL_TASKS}")
    assert tasks == [("done",), ("done",)], where  # the reminder and the poll closing
    assert_nothing_pending(bot)
    results = next(e for e in mine if text(contains="Résultats du sondage")(e))
    counted = votes_counted_at_the_close(bot, events, votes)
    print(f"seed {seed}: {counted} of 2 votes cast before the poll closed")
    expected = f"{counted} votant" + ("s" if counted > 1 else "")
    assert re.search(f"^{expected}$", results["content"]["body"], re.MULTILINE), where


def votes_counted_at_the_close(bot: BotProcess, events: list[Event], votes: list[str]) -> int:
    """How many votes the result must count: those cast by the poll's end.

    Normally both. On a machine slow enough that the restarted bot shows the poll only after
    its end, fewer. However late the bot reads a vote cast in time, it reads it before closing:
    the close waits until what the homeserver held at the end is read.
    """
    [(due_at,)] = stored(bot, "SELECT due_at FROM scheduled_task WHERE key LIKE 'poll_close:%'")
    sent_at = {e["event_id"]: e["origin_server_ts"] for e in events if e["event_id"] in votes}
    end = datetime.fromisoformat(due_at).replace(tzinfo=UTC).timestamp() * 1000
    return sum(1 for vote in votes if sent_at[vote] <= end)


# ---------------------------------------------------------------------- killed mid-send


def forget_poll_start(bot: BotProcess) -> None:
    """Leave the database as a SIGKILL does right after the homeserver accepted the poll's start
    and before the bot recorded it: the send still pending, the start's event ID unknown.
    (A random kill lands there too rarely to prove it; this puts the bot there every time.)"""
    path = bot.directory / "data" / "concerto.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "UPDATE outbox_message SET status = 'pending', event_id = NULL, sent_at = NULL "
            "WHERE key = 'poll:S1:start'"
        )
        connection.execute("UPDATE poll SET start_event_id = NULL")


async def test_votes_for_a_poll_start_the_killed_bot_had_not_recorded_are_counted(
    bot_room, make_person
):
    bot, organiser, room_id = bot_room
    member = await make_person("member")
    await organiser.invite(room_id, member.user_id)
    await member.join(room_id)
    await organiser.send_text(room_id, "!sondage Reprise ? ; oui ; non")
    start = await member.wait_for(room_id, of_type(POLL_START, sender=bot.user_id), 30)
    await member.wait_for(room_id, text(sender=bot.user_id, msgtype="m.notice", contains="S1"))
    await bot.stop()
    forget_poll_start(bot)

    poll = start["event_id"]
    answers = [answer["id"] for answer in start["content"][POLL_START]["answers"]]
    await member.send_event(room_id, POLL_RESPONSE, poll_response(poll, answers[0]))
    await organiser.send_event(room_id, POLL_RESPONSE, poll_response(poll, answers[1]))
    bot.start()
    close = await organiser.send_text(room_id, "!clore S1")
    results = await organiser.wait_for(
        room_id, text(sender=bot.user_id, contains="Résultats du sondage"), 60, after=close
    )

    assert "2 votants" in results["content"]["body"], results["content"]["body"]
    ballots = stored(bot, "SELECT voter, count(*) FROM poll_ballot GROUP BY voter")
    assert sorted(ballots) == sorted([(organiser.user_id, 1), (member.user_id, 1)])
    events = await settle(bot, organiser, room_id)
    mine = [event for event in events if event.get("sender") == bot.user_id]
    assert count(mine, of_type(POLL_START)) == 1  # sent again with its transaction ID: once
    assert count(mine, of_type(POLL_END)) == 1
    assert_nothing_pending(bot)


# ---------------------------------------------------------------------- homeserver outage


@pytest.fixture(scope="module")
def outage_homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHomeserver]:
    """A homeserver of this module's own, so that taking it down affects no other test."""
    server = LocalHomeserver(tmp_path_factory.mktemp("outage"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_homeserver_down_30_seconds_bot_catches_up_exactly_once(
    outage_homeserver: LocalHomeserver, tmp_path
):
    hs = outage_homeserver
    organiser = await Person.start(hs.url, await asyncio.to_thread(hs.register, "org", "pw-org"))
    bot = BotProcess(hs, await asyncio.to_thread(hs.register, "concerto", "pw-bot"), tmp_path)
    bot.start()
    try:
        room_id = await organiser.create_room("Panne", invite=[bot.user_id])
        await organiser.wait_for(room_id, joined(bot.user_id), timeout=30)
        assert bot.process is not None
        pid = bot.process.pid
        # a reminder that falls due 15 s into the outage
        announce = await organiser.send_text(
            room_id, "!échéance Panne ; dans 75 secondes ; rappels: 1min"
        )
        await organiser.wait_for(room_id, reply_or_notice(bot.user_id, "Panne"), after=announce)
        # activity right before the homeserver goes away
        question = await organiser.send_text(room_id, "!aide aide")
        proposal = await organiser.send_text(room_id, "!proposition Pendant la panne #exercice")
        await asyncio.to_thread(hs.stop)
        await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself (nothing to wait for)
        assert bot.is_running(), "the bot must ride out the outage"
        await asyncio.to_thread(hs.start)
        back = time.monotonic()

        await organiser.wait_for(room_id, reply_to(bot.user_id, question), timeout=90)
        await organiser.wait_for(room_id, reaction_to(proposal, RECORDED, sender=bot.user_id), 90)
        await organiser.wait_for(
            room_id, text(sender=bot.user_id, msgtype="m.text", contains="Panne"), timeout=90
        )
        caught_up = time.monotonic() - back
        after = await organiser.send_text(room_id, "!aide agenda")
        await organiser.wait_for(room_id, reply_to(bot.user_id, after), timeout=60)
        print(f"caught up {caught_up:.1f} s after the homeserver came back")
        assert bot.is_running() and bot.process.pid == pid, "the bot never restarted"
        assert "homeserver problem" in bot.log_text()

        events = await settle(bot, organiser, room_id)
        mine = [event for event in events if event.get("sender") == bot.user_id]
        assert count(mine, reply_to(bot.user_id, question)) == 1
        assert count(mine, reply_to(bot.user_id, after)) == 1
        assert count(mine, text(msgtype="m.notice", contains="Panne")) == 1  # announcement
        assert count(mine, text(msgtype="m.text", contains="Panne")) == 1  # the reminder
        assert count(mine, reaction_to(proposal, RECORDED)) == 1
        assert stored(bot, "SELECT event_id FROM proposal") == [(proposal,)]
        assert stored(bot, f"SELECT status FROM scheduled_task WHERE {DRILL_TASKS}") == [("done",)]
        assert_nothing_pending(bot)
    finally:
        if bot.is_running():
            await bot.kill()
        await organiser.close()


def reply_or_notice(bot_id: str, contains: str) -> Callable[[Event], bool]:
    return text(sender=bot_id, msgtype="m.notice", contains=contains)
