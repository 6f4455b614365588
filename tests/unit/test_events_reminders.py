"""When reminders fall due: wall-clock days, real hours, daylight-saving changes, past offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from handlers.agenda.args import parse_item_id, plan_reminders, reminder_due

PARIS = ZoneInfo("Europe/Paris")
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


def test_events_reminder_days_keep_the_local_time_across_spring_forward():
    start = paris(2027, 3, 28, 9, 30)  # Sunday, first day of summer time
    due = reminder_due(start, DAY, PARIS)
    assert due == paris(2027, 3, 27, 9, 30)
    assert start - due == timedelta(hours=23)


def test_events_reminder_days_keep_the_local_time_across_fall_back():
    start = paris(2026, 10, 25, 9, 30)  # Sunday, first day of winter time
    assert reminder_due(start, DAY, PARIS) == paris(2026, 10, 24, 9, 30)
    assert start - reminder_due(start, DAY, PARIS) == timedelta(hours=25)
    assert reminder_due(start, 7 * DAY, PARIS) == paris(2026, 10, 18, 9, 30)


def test_events_reminder_hours_are_real_time_across_a_change():
    start = paris(2027, 3, 28, 3, 30)  # 01:30 UTC, just after the clocks jumped
    assert reminder_due(start, 2 * HOUR, PARIS) == start - 2 * HOUR
    assert reminder_due(start, timedelta(minutes=30), PARIS) == start - timedelta(minutes=30)


def test_events_reminder_day_inside_the_spring_gap_moves_forward_like_the_clocks():
    start = paris(2027, 3, 29, 2, 30)
    assert reminder_due(start, DAY, PARIS) == paris(2027, 3, 28, 3, 30)


def test_events_reminder_mixed_offset_is_wall_clock_days_then_real_hours():
    start = paris(2027, 3, 28, 9, 30)
    assert reminder_due(start, DAY + 2 * HOUR, PARIS) == paris(2027, 3, 27, 7, 30)


def test_events_plan_skips_offsets_already_past():
    now = paris(2026, 6, 15, 10, 0)
    start = paris(2026, 6, 16, 9, 0)
    planned, skipped = plan_reminders(start, [7 * DAY, DAY, HOUR], now=now, tz=PARIS)
    assert [r.offset for r in planned] == [HOUR]
    assert [r.key_suffix for r in planned] == ["1h"]
    assert planned[0].due_at == paris(2026, 6, 16, 8, 0)
    assert skipped == [7 * DAY, DAY]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("E7", ("E", 7)), ("e7", ("E", 7)), (" D 3 ", ("D", 3)), ("S-12", ("S", 12)),
     ("7", None), ("E", None), ("EE7", None), ("E7 x", None)],
)  # fmt: skip
def test_events_parse_item_id(text, expected):
    assert parse_item_id(text) == expected
