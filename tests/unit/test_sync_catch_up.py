"""Reading what the homeserver held at a moment before acting on it (a poll's last votes)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sync_answers import ROOM, batch

from bot.matrix.errors import TransientError
from bot.matrix.sync import SYNC_TIMEOUT_MS, SYNC_TOKEN, SyncLoop
from bot.runtime.timers import CATCH_UP_LIMIT_SECONDS, TaskKind, TaskRun, Timers
from storage.state import StateRepository

VOTE = {"type": "org.matrix.msc3381.poll.response", "event_id": "$late-vote", "content": {}}


class Homeserver:
    """Answers an immediate sync at once, with what it holds; a long poll waits (nothing new
    wakes it here) until the loop abandons it."""

    user_id = "@concerto:test"

    def __init__(self) -> None:
        self.asked: list[int] = []  # the timeout of each sync, in ms
        self.holds: list[dict[str, Any]] = []  # events not yet given to the bot
        self.long_poll_waiting = asyncio.Event()
        self.answering = True
        self.down = False  # refuses every sync at once, as when it is stopped

    async def upload_filter(self, _filter: dict[str, Any]) -> str:
        return "filter"

    async def sync(self, *, timeout_ms: int, **_options: Any) -> SimpleNamespace:
        self.asked.append(timeout_ms)
        if self.down:
            raise TransientError("connection refused")
        if timeout_ms or not self.answering:
            self.long_poll_waiting.set()
            await asyncio.Event().wait()  # until cancelled
        events, self.holds = self.holds, []
        return batch(f"t{len(self.asked) + 1}", events)

    async def after_sync(self) -> None:
        pass


class Intake:
    def __init__(self) -> None:
        self.handled: list[str] = []

    async def handle_room_events(self, _room_id: str, events: list[dict[str, Any]]) -> None:
        self.handled.extend(event["event_id"] for event in events)


async def running_loop(database, clock, homeserver: Homeserver, intake: Intake):
    with database.session() as session:
        StateRepository(session).set(SYNC_TOKEN, "t1")  # a restart, not the first start
    loop = SyncLoop(
        gateway=homeserver,  # type: ignore[arg-type]
        database=database,
        intake=intake,  # type: ignore[arg-type]
        membership=None,  # type: ignore[arg-type]
        clock=clock,
    )
    task = asyncio.create_task(loop.run())
    await loop.synced.wait()
    return loop, task


async def test_a_waiting_long_poll_is_abandoned_to_read_the_last_events_at_once(
    sqlite_database, clock
):
    homeserver, intake = Homeserver(), Intake()
    loop, task = await running_loop(sqlite_database, clock, homeserver, intake)
    await homeserver.long_poll_waiting.wait()
    due = clock.now() + timedelta(minutes=1)
    homeserver.holds.append(VOTE)  # cast just before the end, not yet given to the bot
    clock.advance(timedelta(minutes=1, seconds=1))

    assert await loop.caught_up(due, CATCH_UP_LIMIT_SECONDS) is True
    assert intake.handled == ["$late-vote"]
    # the start's sync, the long poll abandoned, then an immediate sync
    assert homeserver.asked[:3] == [0, SYNC_TIMEOUT_MS, 0]

    loop.stop()
    await task


async def test_a_moment_already_read_needs_no_sync(sqlite_database, clock):
    homeserver, intake = Homeserver(), Intake()
    loop, task = await running_loop(sqlite_database, clock, homeserver, intake)
    await homeserver.long_poll_waiting.wait()

    assert await loop.caught_up(clock.now() - timedelta(seconds=1), 1.0) is True
    assert homeserver.asked == [0, SYNC_TIMEOUT_MS]  # the long poll goes on

    loop.stop()
    await task


async def test_an_unanswering_homeserver_gives_up_after_the_limit(sqlite_database, clock):
    homeserver, intake = Homeserver(), Intake()
    loop, task = await running_loop(sqlite_database, clock, homeserver, intake)
    homeserver.answering = False
    clock.advance(timedelta(seconds=5))

    assert await loop.caught_up(clock.now(), 0.05) is False

    loop.stop()
    await task


async def test_a_homeserver_known_down_is_not_waited_for(sqlite_database, clock):
    homeserver, intake = Homeserver(), Intake()
    loop, task = await running_loop(sqlite_database, clock, homeserver, intake)
    await homeserver.long_poll_waiting.wait()
    homeserver.down = True
    clock.advance(timedelta(seconds=5))

    async with asyncio.timeout(10):  # far less than the limit: the failed sync says it all
        assert await loop.caught_up(clock.now(), 3600) is False
    assert loop.failures > 0

    loop.stop()
    await task


async def test_one_wait_per_pass_for_a_homeserver_that_does_not_answer(database, clock):
    waits: list[object] = []

    async def catch_up(moment, _limit: float) -> bool:
        waits.append(moment)
        return False

    fired: list[str] = []

    async def fire(run: TaskRun) -> None:
        fired.append(run.task.room_id)

    timers = Timers(database, clock)
    timers.register(TaskKind("digest", fire, lambda task, _: "", reads_first=True))
    timers.catch_up = catch_up
    with database.session() as session:
        for number in range(3):  # three rooms' digests due together
            room = f"!room{number}:test"
            timers.add(
                session, key=f"digest:{room}", kind="digest", room_id=room, due_at=clock.now()
            )

    assert await timers.fire_due() == 3
    assert len(waits) == 1 and len(fired) == 3


async def test_only_kinds_that_read_first_wait_and_they_wait_for_their_due_time(database, clock):
    steps: list[str] = []
    waited_for: list[tuple[object, float]] = []

    async def catch_up(moment, limit: float) -> bool:
        waited_for.append((moment, limit))
        steps.append("read the homeserver")
        return False  # it did not answer: the task still fires, on what is stored

    async def fire(run: TaskRun) -> None:
        steps.append(f"fired {run.task.key}")

    timers = Timers(database, clock)
    timers.register(TaskKind("poll_close", fire, lambda task, _: "", reads_first=True))
    timers.register(TaskKind("reminder", fire, lambda task, _: ""))
    timers.catch_up = catch_up  # what ``start`` sets (the sync loop's), without a scheduler
    due = clock.now() + timedelta(minutes=1)
    with database.session() as session:
        timers.add(session, key="reminder:E1:1h", kind="reminder", room_id=ROOM, due_at=due)
        timers.add(session, key="poll_close:S1", kind="poll_close", room_id=ROOM, due_at=due)
    clock.advance(timedelta(minutes=1, seconds=3))

    assert await timers.fire_due() == 2
    assert steps == ["fired reminder:E1:1h", "read the homeserver", "fired poll_close:S1"]
    assert [moment for moment, _ in waited_for] == [due]
