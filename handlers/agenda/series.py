"""Recurring events: the occurrences a series keeps once its exceptions apply, and its timer.

A series is one agenda item with a rule (``bot.text.recurrence``) and exceptions (cancelled or
moved occurrences). Its timer holds only what is due next: one pending reminder task, for the
soonest (reminder, occurrence) pair still to come. When it fires, ``arm`` plans the following
one; a command that cancels or moves an occurrence arms the series again; at start every
series without a pending reminder is armed from now, so after downtime the missed reminder is
reported once (the timers' missed rule) and the series goes on.

Task keys name the occurrence by its actual start: ``reminder:E7:20261208T1700:1d``. A key
already used (fired, missed) is never planned twice.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.runtime.timers import Timers
from bot.text.dates import format_offset
from bot.text.recurrence import Rule, occurrences, utc
from handlers.agenda.args import PREFIXES, read_offsets, reminder_due
from storage.agenda import AgendaRepository
from storage.agenda_models import AgendaItem, OccurrenceException
from storage.tasks import TaskRepository

EVENT_REMINDER = "event_reminder"
# A wall-clock day may last 25 hours: a reminder is never more than this before its occurrence.
DST_SLACK = timedelta(hours=2)


@dataclass(frozen=True)
class Occurrence:
    """One meeting of a series: ``original`` names it, ``starts_at`` is when it happens."""

    original: datetime
    starts_at: datetime
    moved: bool = False


def rule_of(item: AgendaItem) -> Rule | None:
    return Rule.from_rrule_text(item.recurrence) if item.recurrence else None


def tz_of(item: AgendaItem) -> ZoneInfo:
    return ZoneInfo(item.timezone)


def schedule(
    item: AgendaItem,
    exceptions: list[OccurrenceException],
    *,
    after: datetime | None = None,
    before: datetime | None = None,
) -> Iterator[Occurrence]:
    """The series' occurrences soonest first, cancelled ones left out, moved ones at their new
    time; only those starting strictly after ``after`` and strictly before ``before``."""
    rule = rule_of(item)
    if rule is None:
        return iter(())
    changed = {utc(e.occurs_at): e for e in exceptions}
    tz = tz_of(item)

    def regular() -> Iterator[Occurrence]:
        for moment in occurrences(rule, utc(item.starts_at), tz, after=after, before=before):
            if moment not in changed:
                yield Occurrence(moment, moment)

    moved = sorted(
        (
            Occurrence(utc(e.occurs_at), utc(e.moved_to), moved=True)
            for e in exceptions
            if e.status == "moved"
            and e.moved_to is not None
            and (after is None or utc(e.moved_to) > after)
            and (before is None or utc(e.moved_to) < before)
        ),
        key=lambda occurrence: occurrence.starts_at,
    )
    return heapq.merge(regular(), moved, key=lambda occurrence: occurrence.starts_at)


def next_occurrence(
    item: AgendaItem, exceptions: list[OccurrenceException], *, after: datetime
) -> Occurrence | None:
    return next(schedule(item, exceptions, after=after), None)


def find_occurrence(
    item: AgendaItem, exceptions: list[OccurrenceException], day: datetime, *, after: datetime
) -> Occurrence | None:
    """The coming occurrence that falls on ``day``'s date on the room's clock: its date now
    (a moved one by its new date), else its original date."""
    tz = tz_of(item)
    wanted = day.astimezone(tz).date()
    limit = day + timedelta(days=2)
    candidates = list(schedule(item, exceptions, after=after, before=limit))
    for occurrence in candidates:
        if occurrence.starts_at.astimezone(tz).date() == wanted:
            return occurrence
    for occurrence in candidates:
        if occurrence.original.astimezone(tz).date() == wanted:
            return occurrence
    return None


# --- the series' timer -----------------------------------------------------------------------


@dataclass(frozen=True)
class NextReminder:
    due_at: datetime
    occurrence: Occurrence
    offset: timedelta

    def key(self, item: AgendaItem) -> str:
        start = self.occurrence.starts_at.strftime("%Y%m%dT%H%M")
        return f"{key_prefix(item)}{start}:{format_offset(self.offset, language='en')}"


def key_prefix(item: AgendaItem) -> str:
    return f"reminder:{PREFIXES[item.kind]}{item.id}:"


def next_reminder(
    item: AgendaItem,
    exceptions: list[OccurrenceException],
    *,
    after: tuple[datetime, datetime],
    used: set[str],
) -> NextReminder | None:
    """The soonest reminder after ``after`` (its due time, then its occurrence's start) whose
    key is not in ``used``."""
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
            if candidate.key(item) in used:
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
    tasks = [
        task
        for task in TaskRepository(session).list_for_room(item.room_id, kind=EVENT_REMINDER)
        if task.key.startswith(prefix) and task.key != firing
    ]
    used = {task.key for task in tasks if task.status != "pending"}
    if firing is not None:
        used.add(firing)
    exceptions = AgendaRepository(session).exceptions(item.id)
    planned = None
    if item.status == "active":
        planned = next_reminder(item, exceptions, after=after, used=used)
    pending = [task for task in tasks if task.status == "pending"]
    if planned is not None and [task.key for task in pending] == [planned.key(item)]:
        return planned  # already armed
    if pending:
        timers.cancel(session, prefix)
    if planned is None:
        return None
    timers.add(
        session,
        key=planned.key(item),
        kind=EVENT_REMINDER,
        room_id=item.room_id,
        due_at=planned.due_at,
        payload={
            "item_id": item.id,
            "label": f"{PREFIXES[item.kind]}{item.id}",
            "title": item.title,
            "offset_minutes": int(planned.offset.total_seconds() // 60),
            "starts_at": planned.occurrence.starts_at.isoformat(),
            "occurs_at": planned.occurrence.original.isoformat(),
            "timezone": item.timezone,
        },
    )
    return planned


def is_armed(session: Session, item: AgendaItem) -> bool:
    prefix = key_prefix(item)
    return any(
        task.status == "pending" and task.key.startswith(prefix)
        for task in TaskRepository(session).list_for_room(item.room_id, kind=EVENT_REMINDER)
    )
