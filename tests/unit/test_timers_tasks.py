"""Timers over database rows: fire once, never early, late flag, missed listed once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.runtime.clock import SystemClock
from bot.runtime.timers import HORIZON, TaskKind, TaskRun, Timers
from storage.tasks import TaskRepository


def make_timers(database, clock, fired: list[TaskRun]) -> Timers:
    timers = Timers(database, clock)

    async def fire(run: TaskRun) -> None:
        fired.append(run)

    timers.register(TaskKind("reminder", fire, lambda task, language: f"rappel {task.key}"))
    return timers


def add(timers, database, key: str, due) -> None:
    with database.session() as session:
        timers.add(session, key=key, kind="reminder", room_id="!r:test", due_at=due)


async def test_task_fires_once_when_due_and_not_before(database, clock):
    fired: list[TaskRun] = []
    timers = make_timers(database, clock, fired)
    add(timers, database, "reminder:E1:1h", clock.now() + timedelta(minutes=10))
    assert await timers.fire_due() == 0
    clock.advance(timedelta(minutes=10))
    assert await timers.fire_due() == 1
    assert await timers.fire_due() == 0
    assert [run.task.key for run in fired] == ["reminder:E1:1h"]
    assert fired[0].is_late is False


async def test_cancelled_task_never_fires(database, clock):
    fired: list[TaskRun] = []
    timers = make_timers(database, clock, fired)
    add(timers, database, "reminder:E2:1d", clock.now() + timedelta(minutes=1))
    add(timers, database, "reminder:E3:1d", clock.now() + timedelta(minutes=1))
    with database.session() as session:
        timers.cancel(session, "reminder:E2:")
    clock.advance(timedelta(minutes=2))
    await timers.fire_due()
    assert [run.task.key for run in fired] == ["reminder:E3:1d"]


async def test_after_downtime_recent_tasks_fire_late_and_old_ones_are_reported_missed(
    database, clock
):
    fired: list[TaskRun] = []
    reported: list[tuple[str, list[str]]] = []
    timers = make_timers(database, clock, fired)
    timers.report_missed = lambda session, room, tasks, describe: reported.append(
        (room, [t.key for t in tasks])
    )
    add(timers, database, "reminder:E4:1d", clock.now() + timedelta(minutes=5))
    add(timers, database, "reminder:E5:1d", clock.now() + timedelta(hours=2))
    clock.advance(timedelta(hours=2, minutes=30))  # the bot was down all that time
    timers.rebuild()
    timers.rebuild()  # a second start reports nothing new
    await timers.fire_due()
    assert reported == [("!r:test", ["reminder:E4:1d"])]
    assert [run.task.key for run in fired] == ["reminder:E5:1d"]
    assert fired[0].is_late
    with database.session() as session:
        assert TaskRepository(session).get_by_key("reminder:E4:1d").status == "missed"


async def test_same_key_is_one_task(database, clock):
    fired: list[TaskRun] = []
    timers = make_timers(database, clock, fired)
    add(timers, database, "digest:!r:2026-W25", clock.now())
    add(timers, database, "digest:!r:2026-W25", clock.now())
    await timers.fire_due()
    assert len(fired) == 1


async def test_kind_without_grace_fires_however_late(database, clock):
    fired: list[TaskRun] = []
    timers = Timers(database, clock)

    async def fire(run: TaskRun) -> None:
        fired.append(run)

    timers.register(TaskKind("digest", fire, lambda task, language: "", grace=None))
    with database.session() as session:
        timers.add(
            session, key="digest:!r:W1", kind="digest", room_id="!r:test", due_at=clock.now()
        )
    clock.advance(timedelta(days=2))
    timers.rebuild()
    await timers.fire_due()
    assert [run.task.key for run in fired] == ["digest:!r:W1"] and fired[0].is_late


async def test_runner_fires_a_task_that_falls_due_while_it_waits(database):
    """The runner sleeps until the database says the next task is due (real clock)."""
    clock = SystemClock()
    done = asyncio.Event()
    timers = Timers(database, clock)

    async def fire(run: TaskRun) -> None:
        assert clock.now() >= run.task.due_at  # never early
        done.set()

    timers.register(TaskKind("reminder", fire, lambda task, language: ""))
    timers.start()
    try:
        with database.session() as session:
            due = datetime.now(UTC) + timedelta(milliseconds=200)
            timers.add(
                session, key="reminder:E9:1h", kind="reminder", room_id="!r:test", due_at=due
            )
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        timers.shutdown()


async def test_tasks_due_together_in_a_room_fire_in_one_call_per_room(database, clock):
    batches: list[list[str]] = []
    alone: list[str] = []
    timers = Timers(database, clock)

    async def fire(run: TaskRun) -> None:
        alone.append(run.task.key)

    async def fire_together(runs: list[TaskRun]) -> None:
        batches.append([run.task.key for run in runs])

    for name in ("event_reminder", "deadline_reminder"):
        timers.register(TaskKind(name, fire, lambda t, lang: "", fire_together=fire_together))
    timers.register(TaskKind("digest", fire, lambda t, lang: ""))
    due = clock.now() + timedelta(minutes=1)
    with database.session() as session:
        for key, kind, room in [
            ("reminder:E1:1h", "event_reminder", "!a:test"),
            ("reminder:D2:1h", "deadline_reminder", "!a:test"),
            ("reminder:D3:1h", "deadline_reminder", "!b:test"),
            ("digest:!a:W1", "digest", "!a:test"),
        ]:
            timers.add(session, key=key, kind=kind, room_id=room, due_at=due)
        later = clock.now() + timedelta(minutes=2)
        timers.add(
            session, key="reminder:E4:1h", kind="event_reminder", room_id="!a:test", due_at=later
        )
    clock.advance(timedelta(minutes=1))
    assert await timers.fire_due() == 4
    assert sorted(batches) == [["reminder:D3:1h"], ["reminder:E1:1h", "reminder:D2:1h"]]
    assert alone == ["digest:!a:W1"]
    assert await timers.fire_due() == 0  # all four are done
    clock.advance(timedelta(minutes=1))
    await timers.fire_due()  # a reminder due a minute later is a message of its own
    assert batches[-1] == ["reminder:E4:1h"]


async def test_a_failing_group_stays_pending_and_others_still_fire(database, clock):
    fired: list[str] = []
    timers = Timers(database, clock)

    async def fire_together(runs: list[TaskRun]) -> None:
        if runs[0].task.room_id == "!broken:test":
            raise RuntimeError("boom")
        fired.extend(run.task.key for run in runs)

    async def fire(run: TaskRun) -> None:
        await fire_together([run])

    timers.register(TaskKind("reminder", fire, lambda t, lang: "", fire_together=fire_together))
    with database.session() as session:
        for key, room in [("reminder:E1:1h", "!broken:test"), ("reminder:E2:1h", "!ok:test")]:
            timers.add(session, key=key, kind="reminder", room_id=room, due_at=clock.now())
    await timers.fire_due()
    assert fired == ["reminder:E2:1h"]
    with database.session() as session:
        assert TaskRepository(session).get_by_key("reminder:E1:1h").status == "pending"


def armed(timers: Timers, key: str) -> bool:
    """Whether the task of this key has its APScheduler job (it is a row either way)."""
    with timers.database.session() as session:
        task = TaskRepository(session).get_by_key(key)
    assert task is not None and timers._scheduler is not None
    return timers._scheduler.get_job(f"task:{task.id}") is not None


async def test_a_task_beyond_the_horizon_is_a_row_armed_when_the_window_reaches_it(database, clock):
    fired: list[TaskRun] = []
    timers = make_timers(database, clock, fired)
    add(timers, database, "reminder:E1:1d", clock.now() + HORIZON * 3)
    add(timers, database, "reminder:E2:1h", clock.now() + HORIZON / 2)
    timers.start()  # a restart: only what falls due within the horizon gets a job
    try:
        assert armed(timers, "reminder:E2:1h") and not armed(timers, "reminder:E1:1d")
        add(timers, database, "reminder:E3:1d", clock.now() + HORIZON * 3)
        assert not armed(timers, "reminder:E3:1d")  # added beyond it: just a row
        clock.advance(HORIZON * 2 + timedelta(minutes=1))
        timers.arm_window()  # what the periodic job does
        assert armed(timers, "reminder:E1:1d") and armed(timers, "reminder:E3:1d")
        clock.advance(HORIZON)
        await timers.fire_due()
        assert sorted(run.task.key for run in fired) == [
            "reminder:E1:1d",
            "reminder:E2:1h",
            "reminder:E3:1d",
        ]
    finally:
        timers.shutdown()


async def test_a_task_cancelled_beyond_the_horizon_is_never_armed_nor_fired(database, clock):
    fired: list[TaskRun] = []
    timers = make_timers(database, clock, fired)
    timers.start()
    try:
        add(timers, database, "reminder:E4:1d", clock.now() + HORIZON * 3)
        with database.session() as session:
            assert [t.key for t in timers.cancel(session, "reminder:E4:")] == ["reminder:E4:1d"]
        clock.advance(HORIZON * 2 + timedelta(minutes=1))
        timers.arm_window()
        assert not armed(timers, "reminder:E4:1d")
        clock.advance(HORIZON)
        assert await timers.fire_due() == 0
        assert fired == []
    finally:
        timers.shutdown()
