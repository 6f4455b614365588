"""Timers over database rows: APScheduler 3.x only wakes the bot; the task table is the truth.

A feature registers a task kind with a ``fire`` coroutine. When a task falls due, the row is
re-read (it may have been cancelled), ``fire`` runs inside a transaction that also marks the
task done, and whatever it sends goes through the outbox under a key derived from the task, so
a crash at any point can neither lose the task nor send it twice.

After downtime: a task less than ``GRACE`` late fires late (``TaskRun.late`` tells the feature
to say so); older ones are marked missed and listed once per room.

Only the tasks due within ``HORIZON`` get an APScheduler job: a thousand rooms' series keep
thousands of reminders pending weeks ahead, and a job each would cost memory and start-up time
for nothing. A periodic job arms the next window from the database (index on status, due_at);
a task planned beyond the window is just a row until the window reaches it.

A kind that counts what people sent until its due time (a poll's closing, a room's digest)
fires only once the bot has read what the homeserver held at that time (``catch_up``, the sync
loop's): a vote or a proposal sent in the last second, or while the bot was busy with a burst,
is counted, not left unread.

Kinds that share a ``fire_together`` coroutine (the agenda's reminders) fire in one call when
several of their tasks are due in the same room at the same moment: one message instead of a
burst of them, which is kinder to readers and far quicker for the homeserver (it persists the
events of one room one after the other).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import event
from sqlmodel import Session

from bot.runtime.clock import Clock
from storage.db import Database
from storage.models import ScheduledTask
from storage.tasks import TaskRepository

log = logging.getLogger(__name__)

GRACE = timedelta(hours=1)
# Tasks due within this get a job; the window is moved forward every half of it, so a task is
# armed at least half a horizon before it falls due.
HORIZON = timedelta(hours=1)
# How long a task that reads first waits for the homeserver before firing on what it has.
CATCH_UP_LIMIT_SECONDS = 30.0


@dataclass
class TaskRun:
    task: ScheduledTask
    session: Session
    late: timedelta

    @property
    def is_late(self) -> bool:
        return self.late > timedelta(seconds=60)


FireFn = Callable[[TaskRun], Awaitable[None]]
FireTogetherFn = Callable[[list[TaskRun]], Awaitable[None]]
# A missed task in a language, or None if its kind is no longer known.
Describe = Callable[[ScheduledTask, str], str | None]
MissedReporter = Callable[[Session, str, list[ScheduledTask], Describe], None]
# Waits, at most a number of seconds, until the events the homeserver held at a moment are
# handled; False if they could not be.
CatchUp = Callable[[datetime, float], Awaitable[bool]]


@dataclass(frozen=True)
class TaskKind:
    name: str
    fire: FireFn
    describe_missed: Callable[[ScheduledTask, str], str]
    # How late a task may still fire after downtime; None: always, however late (a digest
    # or a purge is still worth doing late, a reminder for a past event is not).
    grace: timedelta | None = GRACE
    # Tasks due together in one room whose kinds share this coroutine fire in a single call.
    fire_together: FireTogetherFn | None = None
    # Fire only once what the homeserver held at the due time is read (see ``Timers.start``).
    reads_first: bool = False


class Timers:
    def __init__(
        self, database: Database, clock: Clock, *, report_missed: MissedReporter | None = None
    ) -> None:
        self.database = database
        self.clock = clock
        self.kinds: dict[str, TaskKind] = {}
        self.report_missed = report_missed
        self._scheduler: AsyncIOScheduler | None = None
        self._runner: asyncio.Task[None] | None = None
        self._due = asyncio.Event()
        self.catch_up: CatchUp | None = None
        # Tasks due by then have their job (those planned later are armed by ``arm_window``).
        self._armed_until: datetime | None = None

    def register(self, kind: TaskKind) -> None:
        self.kinds[kind.name] = kind

    # --- writing tasks (inside the caller's transaction) ---------------------------------

    def add(
        self,
        session: Session,
        *,
        key: str,
        kind: str,
        room_id: str,
        due_at: datetime,
        payload: dict[str, Any] | None = None,
        reopen: bool = False,
    ) -> ScheduledTask:
        """Plan a task under a stable key; an existing key is kept as it is, except that
        ``reopen`` makes a cancelled one pending again (a moved meeting moved back)."""
        if kind not in self.kinds:
            raise ValueError(f"unknown task kind {kind!r}")
        task = TaskRepository(session).add(
            key=key,
            kind=kind,
            room_id=room_id,
            due_at=due_at,
            now=self.clock.now(),
            payload=payload,
            reopen=reopen,
        )
        self._after_commit(session, lambda: self._schedule(task))
        return task

    def add_many(self, session: Session, tasks: list[dict[str, Any]]) -> list[ScheduledTask]:
        """Plan many tasks at once (a start step arming thousands): the fields of ``add``
        for each, existing keys kept (cancelled ones reopened); one flush, one scheduling."""
        for task in tasks:
            if task["kind"] not in self.kinds:
                raise ValueError(f"unknown task kind {task['kind']!r}")
        added = TaskRepository(session).add_many(tasks, now=self.clock.now())

        def schedule_all() -> None:
            for task in added:
                self._schedule(task)

        self._after_commit(session, schedule_all)
        return added

    def cancel(self, session: Session, key_prefix: str) -> list[ScheduledTask]:
        tasks = TaskRepository(session).cancel_prefix(key_prefix, self.clock.now())
        self._after_commit(session, lambda: self._unschedule_all(tasks))
        return tasks

    def cancel_room(self, session: Session, room_id: str) -> list[ScheduledTask]:
        tasks = TaskRepository(session).cancel_room(room_id, self.clock.now())
        self._after_commit(session, lambda: self._unschedule_all(tasks))
        return tasks

    def _after_commit(self, session: Session, action: Callable[[], object]) -> None:
        event.listen(session, "after_commit", lambda _session: action(), once=True)

    # --- scheduling ----------------------------------------------------------------------

    def start(self, catch_up: CatchUp | None = None) -> None:
        """Start the scheduler and the runner, rebuild the pending tasks due soon, and move
        the window of armed tasks forward every half ``HORIZON``. ``catch_up`` is what kinds
        that read first wait for (the sync loop's; without it they fire at once)."""
        self.catch_up = catch_up
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.start()
        self.rebuild()
        self._scheduler.add_job(
            self.arm_window, trigger=IntervalTrigger(seconds=HORIZON.total_seconds() / 2)
        )
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="timers")

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._runner is not None:
            self._runner.cancel()

    async def _run(self) -> None:
        """Fire what is due, one task after the other, then sleep until the next is due.

        One runner rather than one coroutine per job: when many tasks fall due at once, each
        one's message can leave while the next is being prepared (measured: with a coroutine
        per job, the first of 100 simultaneous reminders waited ~300 ms for all the others).
        APScheduler's jobs wake the runner; the database says what is due.
        """
        while True:
            self._due.clear()
            await self.fire_due()
            with self.database.session() as session:
                # Only future tasks: one that failed stays pending without spinning the loop
                # (it is retried at the next wake-up).
                upcoming = TaskRepository(session).next_due_at(after=self.clock.now())
            timeout = None
            if upcoming is not None:
                timeout = max(0.0, (upcoming - self.clock.now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), timeout=timeout)

    async def _wake(self) -> None:
        self._due.set()

    def rebuild(self) -> None:
        """After a start: report what was missed, arm what falls due within ``HORIZON``."""
        now = self.clock.now()
        self._armed_until = now + HORIZON
        missed: dict[str, list[ScheduledTask]] = {}
        with self.database.session() as session:
            repository = TaskRepository(session)
            for task in repository.list_pending(due_by=self._armed_until):
                kind = self.kinds.get(task.kind)
                grace = kind.grace if kind is not None else GRACE
                if grace is not None and now - task.due_at > grace:
                    assert task.id is not None
                    repository.mark(task.id, "missed", now)
                    missed.setdefault(task.room_id, []).append(task)
                else:
                    self._schedule(task)
            if self.report_missed is not None:
                for room_id, tasks in missed.items():
                    self.report_missed(session, room_id, tasks, self.describe_missed)
        if missed:
            log.info("marked %d tasks as missed", sum(len(t) for t in missed.values()))

    def arm_window(self) -> None:
        """Give a job to the tasks that came within ``HORIZON`` since the last window (past
        ones are the runner's: a failed task is retried at its next wake-up, not here)."""
        now = self.clock.now()
        until = now + HORIZON
        with self.database.session() as session:
            upcoming = TaskRepository(session).list_pending(after=now, due_by=until)
        self._armed_until = until
        for task in upcoming:
            self._schedule(task)

    def describe_missed(self, task: ScheduledTask, language: str) -> str | None:
        kind = self.kinds.get(task.kind)
        return kind.describe_missed(task, language) if kind is not None else None

    def _schedule(self, task: ScheduledTask) -> None:
        if self._scheduler is None or task.id is None:
            return
        if self._armed_until is None or task.due_at > self._armed_until:
            return  # beyond the window: ``arm_window`` will arm it
        self._scheduler.add_job(
            self._wake,
            trigger=DateTrigger(run_date=task.due_at),
            id=f"task:{task.id}",
            name=task.key,
            replace_existing=True,
            misfire_grace_time=None,  # late is decided by our own policy, never dropped here
            coalesce=False,
        )

    def _unschedule_all(self, tasks: list[ScheduledTask]) -> None:
        if self._scheduler is None:
            return
        for task in tasks:
            job = self._scheduler.get_job(f"task:{task.id}")
            if job is not None:
                job.remove()

    # --- firing --------------------------------------------------------------------------

    async def _read_first(self, tasks: list[ScheduledTask]) -> bool:
        """For the kinds that read first: wait until what the homeserver held at their due
        time is handled (a poll's last votes), or fire on what is stored if it does not
        answer within ``CATCH_UP_LIMIT_SECONDS``. False when it did not answer."""
        moments = [
            task.due_at
            for task in tasks
            if (kind := self.kinds.get(task.kind)) is not None and kind.reads_first
        ]
        if not moments or self.catch_up is None:
            return True
        if await self.catch_up(max(moments), CATCH_UP_LIMIT_SECONDS):
            return True
        log.warning(
            "the homeserver's latest events could not be read; firing on what is stored",
            extra={"job": ",".join(task.key for task in tasks)},
        )
        return False

    async def _fire_group(self, task_ids: list[int], together: FireTogetherFn | None) -> None:
        """Fire tasks already due in one transaction that also marks them done.

        Without ``together`` each task fires through its own kind (the group is one task).
        """
        with self.database.session() as session:
            repository = TaskRepository(session)
            now = self.clock.now()
            runs: list[TaskRun] = []
            for task_id in task_ids:
                task = repository.get(task_id)
                if task is None or task.status != "pending":
                    continue
                if task.kind not in self.kinds:
                    log.error("no handler for task kind %s", task.kind, extra={"job": task.key})
                    continue
                late = max(timedelta(0), now - task.due_at)
                runs.append(TaskRun(task=task, session=session, late=late))
            if not runs:
                return
            if together is not None:
                await together(runs)
            else:
                for run in runs:
                    await self.kinds[run.task.kind].fire(run)
            for run in runs:
                assert run.task.id is not None
                repository.mark(run.task.id, "done", self.clock.now())
        for run in runs:
            log.info("task fired", extra={"job": run.task.key, "room_id": run.task.room_id})

    async def fire_due(self) -> int:
        """Fire every pending task already due, oldest first (the runner and tests use it).

        Returns how many tasks were due.
        """
        now = self.clock.now()
        with self.database.session() as session:
            due = TaskRepository(session).list_pending(due_by=now)
        by_id = {task.id: task for task in due}
        # One wait for an unanswering homeserver per pass, not one per task (a thousand
        # rooms' digests fall due at once).
        reachable = True
        for task_ids, together in self._groups(due):
            try:
                if reachable:
                    reachable = await self._read_first([by_id[task_id] for task_id in task_ids])
                await self._fire_group(task_ids, together)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("tasks %s failed", task_ids, extra={"job": str(task_ids)})
            await asyncio.sleep(0)  # let the outbox send this group's message now
        return len(due)

    def _groups(self, due: list[ScheduledTask]) -> list[tuple[list[int], FireTogetherFn | None]]:
        """Due tasks in firing order; those that may fire together are gathered per room."""
        groups: list[tuple[list[int], FireTogetherFn | None]] = []
        gathered: dict[tuple[str, FireTogetherFn], list[int]] = {}
        for task in due:
            assert task.id is not None
            kind = self.kinds.get(task.kind)
            together = kind.fire_together if kind is not None else None
            if together is None:
                groups.append(([task.id], None))
                continue
            ids = gathered.get((task.room_id, together))
            if ids is None:
                ids = gathered[(task.room_id, together)] = []
                groups.append((ids, together))
            ids.append(task.id)
        return groups
