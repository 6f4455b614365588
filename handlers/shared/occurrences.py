"""The meetings of a recurring event once its exceptions apply: what the agenda reminds and
lists, and what the digest shows for the coming week.

A series is one agenda item with a rule (``bot.text.recurrence``) and exceptions (cancelled or
moved meetings). A meeting is named by its original start, which stays its name when moved.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.text.recurrence import Rule, occurrences, utc
from storage.agenda_models import AgendaItem, OccurrenceException


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


def last_start(item: AgendaItem, exceptions: list[OccurrenceException]) -> datetime | None:
    """When the series' last meeting starts once its exceptions apply (a meeting moved past
    the rule's end is its last); None when the rule repeats without end. With every meeting
    cancelled, its first start: the series is over once that has passed."""
    rule = rule_of(item)
    if rule is None or (rule.until is None and rule.count is None):
        return None
    last = None
    for last in schedule(item, exceptions):  # noqa: B007 - bounded by UNTIL or COUNT
        pass
    return last.starts_at if last is not None else utc(item.starts_at)


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
