"""Polls end to end through the unit test kit (the bot as the application builds it, real
database, frozen clock, recording sender).

Covers the repository, the recomputed tally (native + reactions, changes of mind, removals,
redactions, late votes), the commands, the sent hook, the closing timer and client polls.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness import ROOM, Harness
from sqlmodel import select

from bot.runtime.clock import FrozenClock, to_millis
from handlers.polls.events import NUMBER_EMOJI
from handlers.polls.results import poll_tally
from storage.models import OutboxMessage, ScheduledTask
from storage.poll_models import Poll, PollBallot
from storage.polls import PollRepository

AUTHOR = "@alice:test"
ORGANISER = "@orga:test"
START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 100}


async def send(bot: Harness, event: dict[str, Any]) -> str:
    """Deliver one event now; its ID."""
    await bot.deliver(event)
    return str(event["event_id"])


async def response(
    bot: Harness, sender: str, poll_event: str, answers: list[str], *, stable: bool = False
) -> str:
    """A vote from a client that shows polls (unstable MSC3381 type unless ``stable``)."""
    relation = {"rel_type": "m.reference", "event_id": poll_event}
    if stable:
        content: dict[str, Any] = {"m.selections": answers, "m.relates_to": relation}
        return await send(bot, bot.event(sender, "m.poll.response", content))
    content = {
        "org.matrix.msc3381.poll.response": {"answers": answers},
        "m.relates_to": relation,
    }
    return await send(bot, bot.event(sender, "org.matrix.msc3381.poll.response", content))


async def react(bot: Harness, sender: str, target: str, index: int) -> str:
    """A vote by reacting with the number of an answer (0 for the first)."""
    return await send(bot, bot.reaction(sender, target, NUMBER_EMOJI[index]))


async def redact(bot: Harness, sender: str, target: str) -> str:
    return await send(bot, bot.redaction(sender, target))


def outbox_rows(bot: Harness) -> list[OutboxMessage]:
    with bot.database.session() as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def polls_sent(bot: Harness) -> dict[str, OutboxMessage]:
    """What the polls feature sent or queued (replies to commands left out), by key."""
    return {row.key: row for row in outbox_rows(bot) if not row.key.startswith("reply:")}


def sent_as(bot: Harness, key: str) -> str:
    """The event ID the homeserver gave the message queued under ``key``."""
    event_id = polls_sent(bot)[key].event_id
    assert event_id is not None
    return event_id


def close_tasks(bot: Harness) -> list[ScheduledTask]:
    with bot.database.session() as session:
        tasks = session.exec(select(ScheduledTask)).all()
    return [task for task in tasks if task.key.startswith("poll_close:")]


def poll(bot: Harness, poll_id: int = 1) -> Poll:
    with bot.database.session() as session:
        found = PollRepository(session).get(poll_id)
        assert found is not None
        return found


def tally(bot: Harness, poll_id: int = 1):
    with bot.database.session() as session:
        found = PollRepository(session).get(poll_id)
        assert found is not None
        return poll_tally(session, found)


async def test_polls_command_stores_poll_sends_start_notice_and_timer(bot: Harness):
    await bot.say(AUTHOR, "!sondage Quel jour ? ; mardi ; jeudi ; fin: dans 2 heures")
    rows = list(polls_sent(bot).values())
    assert [row.key for row in rows] == ["poll:S1:start", "poll:S1:notice"]
    start = rows[0]
    assert start.event_type == "org.matrix.msc3381.poll.start"
    block = start.content["org.matrix.msc3381.poll.start"]
    assert block["max_selections"] == 1
    assert [a["org.matrix.msc1767.text"] for a in block["answers"]] == ["mardi", "jeudi"]
    assert "1. mardi" in start.content["org.matrix.msc1767.text"]
    notice = rows[1].content
    assert notice["msgtype"] == "m.notice"
    assert "Sondage S1 lancé : Quel jour ?" in notice["body"]
    assert "!clore S1" in notice["body"]
    assert "1️⃣ mardi" in notice["body"]
    (task,) = close_tasks(bot)
    assert task.key == "poll_close:S1"
    assert task.due_at == START + timedelta(hours=2)
    stored = poll(bot)
    assert (stored.author, stored.status, stored.origin) == (AUTHOR, "open", "command")
    # the sent hook keeps the event IDs the homeserver gave the poll and its notice
    sent = {item["type"]: item["event_id"] for item in bot.sender.sent}
    assert stored.start_event_id == sent["org.matrix.msc3381.poll.start"]
    assert stored.notice_event_id == sent["m.room.message"]


async def test_polls_bad_input_stores_nothing(bot: Harness):
    [answer] = await bot.say(AUTHOR, "!sondage Pizza ? ; oui")
    assert "au moins 2 choix" in answer  # what to fix, and nothing stored
    [typo] = await bot.say(AUTHOR, "!sondage Pizza ? ; oui ; non ; fni: demain")
    assert typo.startswith(
        "Champ inconnu : « fni ». Champs possibles ici : fin (end), choix (choices), quorum, "
        "résultats (results), type, anonyme (anonymous). "
        "Si c’est un choix, écrivez-le sans les deux-points, par exemple « fni demain »."
    ), typo
    assert "Utilisation : !sondage" in typo
    with bot.database.session() as session:
        assert session.exec(select(Poll)).all() == []
    assert polls_sent(bot) == {}
    assert close_tasks(bot) == []


async def test_polls_votes_native_and_reactions_recomputed_on_close(bot: Harness):
    await bot.say(AUTHOR, "!sondage Quel jour ? ; mardi ; jeudi ; vendredi")
    start, notice = sent_as(bot, "poll:S1:start"), sent_as(bot, "poll:S1:notice")
    assert (poll(bot).start_event_id, poll(bot).notice_event_id) == (start, notice)

    bot.clock.set(at(1))
    await response(bot, "@bob:x", start, ["a1"])
    carol = await react(bot, "@carol:x", start, 0)
    await response(bot, "@dan:x", start, ["a2"], stable=True)
    await response(bot, "@erin:x", start, ["a1"])
    # a reaction that is not a vote, and a response to another event, change nothing
    await send(bot, bot.reaction("@fred:x", start, "👍"))
    await response(bot, "@fred:x", "$other", ["a1"])
    bot.clock.set(at(2))
    await react(bot, "@bob:x", notice, 2)  # bob changes his mind with a reaction on the notice
    dan_change = await response(bot, "@dan:x", start, ["a1"])
    await response(bot, "@erin:x", start, ["zzz"])  # erin's latest ballot is spoiled
    bot.clock.set(at(3))
    await redact(bot, "@carol:x", carol)  # carol removes her reaction: no vote left
    await redact(bot, "@dan:x", dan_change)  # dan's first vote stands

    result = tally(bot)
    assert dict(result.counts) == {"a1": 0, "a2": 1, "a3": 1}
    assert (result.voters, result.spoiled) == (2, 1)

    bot.clock.set(at(10))
    await bot.say(AUTHOR, "!clore S1")
    bot.clock.set(at(11))
    await response(bot, "@gus:x", start, ["a1"])  # after the close: stored, never counted
    closed = poll(bot)
    assert closed.status == "closed" and closed.closed_by == AUTHOR
    assert closed.result is not None and closed.result["counts"] == {"a1": 0, "a2": 1, "a3": 1}
    assert dict(tally(bot).counts) == {"a1": 0, "a2": 1, "a3": 1}

    rows = polls_sent(bot)
    end = rows["pollend:S1"]
    assert end.event_type == "org.matrix.msc3381.poll.end"
    assert end.content["m.relates_to"] == {"rel_type": "m.reference", "event_id": start}
    assert "Égalité" not in end.content["org.matrix.msc1767.text"]
    results = rows["pollresults:S1"].content["body"]
    assert "Résultats du sondage S1 : Quel jour ?" in results
    assert "2️⃣ jeudi — 1 vote (50 %)" in results
    assert "1️⃣ mardi — 0 vote (0 %)" in results
    assert "2 votants, 1 bulletin nul" in results
    assert "Égalité entre : jeudi, vendredi" in results


async def test_polls_close_permissions_and_twice(bot: Harness):
    await bot.say(AUTHOR, "!sondage Q ; a ; b")
    [refused] = await bot.say("@mallory:x", "!clore S1")
    assert "Seuls l’auteur du sondage S1 et les organisateurs" in refused
    assert "peuvent le clore" in refused
    [unknown] = await bot.say(AUTHOR, "!clore S9")
    assert "Il n’y a pas de sondage S9 dans ce salon." in unknown
    assert poll(bot).status == "open"
    await bot.say(ORGANISER, "!clore s1")
    assert poll(bot).status == "closed"
    [twice] = await bot.say(AUTHOR, "!clore S1")
    assert "Le sondage S1 est déjà clos" in twice


async def test_polls_timer_closes_at_end_counting_only_earlier_votes(bot: Harness):
    await bot.say(AUTHOR, "!sondage Q ; a ; b ; fin: dans 30 minutes ; choix: 2")
    start = sent_as(bot, "poll:S1:start")
    bot.clock.set(at(5))
    await response(bot, "@bob:x", start, ["a1", "a2"])
    bot.clock.set(at(29))
    await react(bot, "@carol:x", start, 1)
    bot.clock.set(at(30) + timedelta(seconds=10))
    await react(bot, "@dan:x", start, 0)  # after the end, before the timer fired
    bot.clock.set(at(30) + timedelta(seconds=30))
    assert await bot.timers.fire_due() == 1
    closed = poll(bot)
    assert closed.status == "closed" and closed.closed_at == at(30)
    assert closed.result is not None and closed.result["counts"] == {"a1": 1, "a2": 2}
    rows = polls_sent(bot)
    results = rows["pollresults:S1"].content["body"]
    assert "Réponse gagnante : b" in results
    assert "en retard" not in results
    assert "pollend:S1" in rows


async def test_polls_timer_late_says_so(bot: Harness):
    await bot.say(AUTHOR, "!sondage Q ; a ; b ; fin: dans 30 minutes")
    bot.clock.set(at(40))
    await bot.timers.fire_due()
    results = polls_sent(bot)["pollresults:S1"].content["body"]
    assert "clos en retard" in results
    assert "Aucun vote." in results


async def client_poll(bot: Harness) -> str:
    """Bob starts a poll from his own client (Element), without the bot; its event ID."""
    content = {
        "org.matrix.msc3381.poll.start": {
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 1,
            "question": {"org.matrix.msc1767.text": "Café ou thé ?"},
            "answers": [
                {"id": "cafe", "org.matrix.msc1767.text": "Café"},
                {"id": "the", "org.matrix.msc1767.text": "Thé"},
            ],
        }
    }
    return await send(bot, bot.event("@bob:x", "org.matrix.msc3381.poll.start", content))


def poll_end(bot: Harness, sender: str, poll_event: str) -> dict[str, Any]:
    content = {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event},
        "org.matrix.msc3381.poll.end": {},
    }
    return bot.event(sender, "org.matrix.msc3381.poll.end", content)


async def test_polls_client_poll_recognised_tallied_and_ended_by_author(bot: Harness):
    start = await client_poll(bot)
    recorded = poll(bot)
    assert (recorded.origin, recorded.author, recorded.start_event_id) == (
        "client",
        "@bob:x",
        start,
    )
    notice = outbox_rows(bot)[0].content
    assert "Sondage S1 enregistré : Café ou thé ?" in notice["body"]
    bot.clock.set(at(1))
    await response(bot, "@carol:x", start, ["the"])
    await react(bot, "@dan:x", start, 0)
    bot.clock.set(at(2))
    await send(bot, poll_end(bot, "@carol:x", start))  # not the author's (MSC3381): ignored
    assert poll(bot).status == "open"
    bot.clock.set(at(3))
    await send(bot, poll_end(bot, "@bob:x", start))
    closed = poll(bot)
    assert closed.status == "closed" and closed.closed_at == at(3)
    rows = polls_sent(bot)
    assert "pollend:S1" not in rows  # the author already ended it
    assert "Égalité entre : Café, Thé" in rows["pollresults:S1"].content["body"]


@pytest.mark.parametrize("bot_may_redact", [True, False])
async def test_polls_clore_ends_a_client_poll_for_everyone_only_if_the_bot_may_redact(
    bot: Harness, bot_may_redact: bool
):
    if bot_may_redact:
        bot.sender.redactor_rooms.add(ROOM)
    start = await client_poll(bot)
    bot.clock.set(at(1))
    await response(bot, "@carol:x", start, ["the"])
    await bot.say(ORGANISER, "!clore S1")
    assert poll(bot).status == "closed"
    rows = polls_sent(bot)
    assert "pollresults:S1" in rows
    # MSC3381: clients accept an end event from the poll's creator or from someone who may
    # redact it; otherwise Element would ignore it, so the bot does not send one.
    assert ("pollend:S1" in rows) is bot_may_redact
    if bot_may_redact:
        end = rows["pollend:S1"]
        assert end.event_type == "org.matrix.msc3381.poll.end"
        assert end.content["m.relates_to"] == {"rel_type": "m.reference", "event_id": start}


async def test_polls_annuler_cancels_a_poll(bot: Harness):
    await bot.say(AUTHOR, "!sondage Q ; a ; b ; fin: dans 1 heure")
    [refused] = await bot.say("@mallory:x", "!annuler S1")
    assert "Seuls l’auteur du sondage S1 et les organisateurs" in refused
    assert "peuvent l’annuler" in refused
    assert poll(bot).status == "open"
    await bot.say(AUTHOR, "!annuler S1")
    assert poll(bot).status == "cancelled"
    assert [task.status for task in close_tasks(bot)] == ["cancelled"]
    rows = polls_sent(bot)
    assert "pollend:S1" in rows and "pollresults:S1" not in rows
    [again] = await bot.say(AUTHOR, "!clore S1")
    assert "Le sondage S1 a été annulé" in again


async def test_polls_repository_lists_closed_and_open_in_a_range(database):
    with database.session() as session:
        repository = PollRepository(session)
        answers = [("a1", "a"), ("a2", "b")]
        closed = repository.add(
            room_id=ROOM,
            author=AUTHOR,
            question="Q1",
            answers=answers,
            max_selections=1,
            created_at=at(0),
        )
        repository.mark_closed(closed, closed_at=at(60), closed_by=AUTHOR, result=None)
        still_open = repository.add(
            room_id=ROOM,
            author=AUTHOR,
            question="Q2",
            answers=answers,
            max_selections=1,
            created_at=at(10),
        )
        other_room = repository.add(
            room_id="!other:x",
            author=AUTHOR,
            question="Q3",
            answers=answers,
            max_selections=1,
            created_at=at(10),
        )
        repository.add_ballot(
            still_open, voter="@b:x", ts=to_millis(at(11)), event_id="$v", selections=["a2"]
        )
    with database.session() as session:
        repository = PollRepository(session)
        assert [p.id for p in repository.list_closed_between(at(0), at(120), room_id=ROOM)] == [
            closed.id
        ]
        assert repository.list_closed_between(at(61), at(120), room_id=ROOM) == []
        assert [p.id for p in repository.list_open_at(at(120), room_id=ROOM)] == [still_open.id]
        assert [p.id for p in repository.list_open_at(at(30))] == [
            closed.id,
            still_open.id,
            other_room.id,
        ]
        ballots = repository.list_ballots(still_open.id or 0)
        assert [(b.voter, b.selections, b.source) for b in ballots] == [("@b:x", ["a2"], "native")]
        assert repository.find_ballots("!other:x", "$v") == []
        found = repository.get(still_open.id or 0)
        assert found is not None
        assert dict(poll_tally(session, found).counts) == {"a1": 0, "a2": 1}


def test_polls_ballot_rows_keep_millisecond_timestamps(database):
    big = 4_102_444_800_000  # year 2100 in ms: beyond 32-bit integers
    with database.session() as session:
        repository = PollRepository(session)
        created = repository.add(
            room_id=ROOM,
            author=AUTHOR,
            question="Q",
            answers=[("a1", "a"), ("a2", "b")],
            max_selections=1,
            created_at=at(0),
        )
        repository.add_ballot(created, voter="@b:x", ts=big, event_id="$v", selections=["a1"])
    with database.session() as session:
        assert session.exec(select(PollBallot)).one().ts == big
