"""Scheduled tasks: reminders, poll closings and digests that fall due at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.models import ScheduledTask


class TaskRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, task_id: int) -> ScheduledTask | None:
        return self.session.get(ScheduledTask, task_id)

    def get_by_key(self, key: str) -> ScheduledTask | None:
        return self.session.exec(select(ScheduledTask).where(ScheduledTask.key == key)).first()

    def add(
        self,
        *,
        key: str,
        kind: str,
        room_id: str,
        due_at: datetime,
        now: datetime,
        payload: dict[str, Any] | None = None,
        reopen: bool = False,
    ) -> ScheduledTask:
        """Add a task, or return the existing one with this key (keys are unique). With
        ``reopen``, a cancelled task of this key is pending again, due as asked."""
        existing = self.get_by_key(key)
        if existing is not None and reopen and existing.status == "cancelled":
            existing.status, existing.done_at = "pending", None
            existing.due_at, existing.payload = due_at, payload or {}
            self.session.add(existing)
            self.session.flush()
        if existing is not None:
            return existing
        task = ScheduledTask(
            key=key,
            kind=kind,
            room_id=room_id,
            due_at=due_at,
            created_at=now,
            payload=payload or {},
        )
        self.session.add(task)
        self.session.flush()
        return task

    def add_many(self, tasks: list[dict[str, Any]], *, now: datetime) -> list[ScheduledTask]:
        """Add several tasks in one go (``key``, ``kind``, ``room_id``, ``due_at``,
        ``payload`` each): one query for the keys that exist, one flush. An existing key is
        kept, or reopened when cancelled, as ``add(..., reopen=True)`` does."""
        keys = [task["key"] for task in tasks]
        existing: dict[str, ScheduledTask] = {}
        for start in range(0, len(keys), 500):
            statement = select(ScheduledTask).where(
                col(ScheduledTask.key).in_(keys[start : start + 500])
            )
            existing.update((task.key, task) for task in self.session.exec(statement))
        added: list[ScheduledTask] = []
        for fields in tasks:
            task = existing.get(fields["key"])
            if task is None:
                task = ScheduledTask(**fields, created_at=now)
                self.session.add(task)
            elif task.status == "cancelled":
                task.status, task.done_at = "pending", None
                task.due_at, task.payload = fields["due_at"], fields["payload"]
            added.append(task)
        self.session.flush()
        return added

    def list_pending(
        self,
        *,
        due_by: datetime | None = None,
        after: datetime | None = None,
        kind: str | None = None,
    ) -> list[ScheduledTask]:
        """Pending tasks, soonest first; with ``due_by``, only those due by then (the timers
        ask at every wake-up, and a thousand rooms have a thousand digests pending); with
        ``after``, only those due later than that; with ``kind``, only that kind's."""
        statement = (
            select(ScheduledTask)
            .where(ScheduledTask.status == "pending")
            .order_by(col(ScheduledTask.due_at))
        )
        if kind is not None:
            statement = statement.where(ScheduledTask.kind == kind)
        if due_by is not None:
            statement = statement.where(col(ScheduledTask.due_at) <= due_by)
        if after is not None:
            statement = statement.where(col(ScheduledTask.due_at) > after)
        return list(self.session.exec(statement))

    def next_due_at(self, after: datetime) -> datetime | None:
        """When the next pending task falls due, counting only those due after ``after``."""
        statement = (
            select(ScheduledTask.due_at)
            .where(ScheduledTask.status == "pending", col(ScheduledTask.due_at) > after)
            .order_by(col(ScheduledTask.due_at))
            .limit(1)
        )
        return self.session.exec(statement).first()

    def list_pending_keys(self, kind: str) -> list[str]:
        """The keys of the pending tasks of one kind (only the keys: there may be thousands)."""
        statement = select(ScheduledTask.key).where(
            ScheduledTask.status == "pending", ScheduledTask.kind == kind
        )
        return list(self.session.exec(statement))

    def list_pending_with_prefix(self, key_prefix: str) -> list[ScheduledTask]:
        """Pending tasks whose key starts with this prefix (found through the status index:
        pending tasks are few, done ones pile up over a year)."""
        statement = select(ScheduledTask).where(
            ScheduledTask.status == "pending", col(ScheduledTask.key).startswith(key_prefix)
        )
        return list(self.session.exec(statement.order_by(col(ScheduledTask.due_at))))

    def list_for_room(self, room_id: str, *, kind: str | None = None) -> list[ScheduledTask]:
        statement = select(ScheduledTask).where(ScheduledTask.room_id == room_id)
        if kind:
            statement = statement.where(ScheduledTask.kind == kind)
        return list(self.session.exec(statement.order_by(col(ScheduledTask.due_at))))

    def mark(self, task_id: int, status: str, now: datetime) -> None:
        task = self.session.get(ScheduledTask, task_id)
        if task is not None:
            task.status, task.done_at = status, now

    def cancel_prefix(self, key_prefix: str, now: datetime) -> list[ScheduledTask]:
        """Cancel every pending task whose key starts with this prefix (e.g. ``reminder:E7:``)."""
        statement = select(ScheduledTask).where(
            col(ScheduledTask.key).startswith(key_prefix), ScheduledTask.status == "pending"
        )
        tasks = list(self.session.exec(statement))
        for task in tasks:
            task.status, task.done_at = "cancelled", now
        return tasks

    def cancel_room(self, room_id: str, now: datetime) -> list[ScheduledTask]:
        statement = select(ScheduledTask).where(
            ScheduledTask.room_id == room_id, ScheduledTask.status == "pending"
        )
        tasks = list(self.session.exec(statement))
        for task in tasks:
            task.status, task.done_at = "cancelled", now
        return tasks
