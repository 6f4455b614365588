"""Recurring events: the timer of a series (its meetings are ``handlers.shared.occurrences``).

Its timer holds only what is due next: one pending reminder task, for the
soonest (reminder, occurrence) pair still to come. When it fires, ``arm`` plans the following
one; a command that cancels or moves an occurrence arms the series again; at start every
series without a pending reminder is armed from now, so after downtime the missed reminder is
reported once (the timers' missed rule) and the series goes on.

Task keys name the occurrence by its actual start: ``reminder:E7:20261208T1700:1d``. A key
already used (fired, missed) is never planned twice; a cancelled one is reopened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.runtime.timers import Timers
from bot.text.dates import format_offset
from handlers.agenda.args import PREFIXES, read_offsets, reminder_due, start_stamp
from handlers.shared.occurrences import (
    Occurrence,
    find_occurrence,
    last_start,
    next_occurrence,
    rule_of,
    schedule,
    tz_of,
)
from storage.agenda import AgendaRepository
from storage.agenda_models import AgendaItem, OccurrenceException
from storage.tasks import TaskRepository

__all__ = [
    "Occurrence",
    "arm",
    "arm_all",
    "armed_series",
    "find_occurrence",
    "last_start",
    "next_occurrence",
    "next_reminder",
    "rule_of",
    "schedule",
    "tz_of",
]

EVENT_REMINDER = "event_reminder"
# A wall-clock day may last 25 hours: a reminder is never more than this before its occurrence.
DST_SLACK = timedelta(hours=2)


# --- the series' timer -----------------------------------------------------------------------


@dataclass(frozen=True)
class NextReminder:
    due_at: datetime
    occurrence: Occurrence
    offset: timedelta

    def key(self, item: AgendaItem) -> str:
        start = start_stamp(self.occurrence.starts_at)
        return f"{key_prefix(item)}{start}:{format_offset(self.offset, language='en')}"


def key_prefix(item: AgendaItem) -> str:
    return f"reminder:{PREFIXES[item.kind]}{item.id}:"


def next_reminder(
    item: AgendaItem,
    exceptions: list[OccurrenceException],
    *,
    after: tuple[datetime, datetime],
    used: Callable[[NextReminder], bool],
) -> NextReminder | None:
    """The soonest reminder after ``after`` (its due time, then its occurrence's start) whose
    key is not ``used`` yet."""
    offsets = read_offsets(item.reminders) if item.reminders else []
    if not offsets:
        return None
    tz, longest = tz_of(item), max(offsets)
    best: NextReminder | None = None
    for occurrence in schedule(item, exceptions, after=after[0]):
        if best is not None and occurrence.starts_at - longest - DST_SLACK > best.due_at:
            break
        for offset in offsets:
            candidate = NextReminder(
                reminder_due(occurrence.starts_at, offset, tz), occurrence, offset
            )
            if (candidate.due_at, occurrence.starts_at) <= after:
                continue
            if used(candidate):
                continue
            if best is None or (candidate.due_at, occurrence.starts_at) < (
                best.due_at,
                best.occurrence.starts_at,
            ):
                best = candidate
    return best


def arm(
    session: Session,
    timers: Timers,
    item: AgendaItem,
    *,
    after: tuple[datetime, datetime],
    firing: str | None = None,
) -> NextReminder | None:
    """Make the series' one pending reminder the next one after ``after``; ``firing`` is the
    key of the reminder being sent (still pending until its transaction ends)."""
    assert item.id is not None
    prefix = key_prefix(item)
    tasks = TaskRepository(session)
    now = timers.clock.now()
    pending = [task for task in tasks.list_pending_with_prefix(prefix) if task.key != firing]
    exceptions = AgendaRepository(session).exceptions(item.id)

    def used(candidate: NextReminder) -> bool:
        """Already sent or missed: a reminder is never sent twice (a cancelled one may come
        back, when its meeting is moved back to that time). One due later than now cannot
        have been sent: its key names its due time, so the database is not asked."""
        key = candidate.key(item)
        if key == firing:
            return True
        if candidate.due_at > now:
            return False
        task = tasks.get_by_key(key)
        return task is not None and task.status in ("done", "missed")

    planned = None
    if item.status == "active":
        planned = next_reminder(item, exceptions, after=after, used=used)
    if planned is not None and [task.key for task in pending] == [planned.key(item)]:
        return planned  # already armed
    if pending:
        timers.cancel(session, prefix)
    if planned is None:
        return None
    timers.add(session, reopen=True, **task_fields(item, planned))
    return planned


def task_fields(item: AgendaItem, planned: NextReminder) -> dict[str, Any]:
    """The timer task of a series' next reminder."""
    return {
        "key": planned.key(item),
        "kind": EVENT_REMINDER,
        "room_id": item.room_id,
        "due_at": planned.due_at,
        "payload": {
            "item_id": item.id,
            "label": f"{PREFIXES[item.kind]}{item.id}",
            "title": item.title,
            "offset_minutes": int(planned.offset.total_seconds() // 60),
            "starts_at": planned.occurrence.starts_at.isoformat(),
            "occurs_at": planned.occurrence.original.isoformat(),
            "timezone": item.timezone,
        },
    }


def arm_all(session: Session, timers: Timers, now: datetime) -> int:
    """At start: arm every active series left without a pending reminder, from now; returns
    how many. Only those series are read, with one query for their exceptions and one write
    for their tasks (a reminder due after now cannot have been sent: no key is looked up)."""
    armed = armed_series(session)
    agenda = AgendaRepository(session)
    ids = [
        item_id
        for item_id, kind in agenda.list_recurring_ids()
        if f"reminder:{PREFIXES[kind]}{item_id}:" not in armed
    ]
    if not ids:
        return 0
    unarmed = agenda.list_by_ids(ids)
    exceptions = agenda.exceptions_of(ids)
    planned = []
    for item in unarmed:
        assert item.id is not None
        coming = next_reminder(
            item, exceptions.get(item.id, []), after=(now, now), used=lambda _candidate: False
        )
        if coming is not None:
            planned.append(task_fields(item, coming))
    timers.add_many(session, planned)
    return len(planned)


def armed_series(session: Session) -> set[str]:
    """The key prefixes (``reminder:E7:``) of the events whose pending reminder names its
    start (``reminder:E7:20261208T1700:1d``): every armed series, and any one-off event moved
    (harmless: only series are looked up here)."""
    return {
        key.rsplit(":", 2)[0] + ":"
        for key in TaskRepository(session).list_pending_keys(EVENT_REMINDER)
        if key.count(":") == 3
    }
