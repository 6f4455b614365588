"""Repetition phrases (fr, en) → the occurrences the bot will keep, on the room's wall clock.

The clock is Saturday 5 December 2026, 09:00 in Paris. Daylight saving changes in Paris on
28 March 2027 (02:00 → 03:00) and 31 October 2027 (03:00 → 02:00): a rule keeps its wall time,
so its UTC time moves; a time inside the spring gap moves forward by the gap, a repeated autumn
time is the first one (summer time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from bot.text.dates import DateError
from bot.text.recurrence import (
    MSG_BAD_COUNT,
    MSG_MONTH_END,
    MSG_NO_TIME,
    MSG_NOT_UNDERSTOOD,
    MSG_UNTIL_AND_COUNT,
    MSG_UNTIL_BEFORE_START,
    Rule,
    describe_rule,
    last_occurrence,
    looks_recurring,
    parse_rule,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)  # Saturday 09:00 in Paris


def z(text: str) -> datetime:
    """A UTC moment written compactly: ``2026-12-08 17:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# phrase → its first occurrences in UTC (Paris is UTC+1 in winter, UTC+2 in summer)
TABLE = [
    ("tous les mardis à 18h", ["2026-12-08 17:00", "2026-12-15 17:00", "2026-12-22 17:00"]),
    ("every Tuesday at 6pm", ["2026-12-08 17:00", "2026-12-15 17:00", "2026-12-22 17:00"]),
    ("Tous les Mardis à 18h30", ["2026-12-08 17:30", "2026-12-15 17:30", "2026-12-22 17:30"]),
    ("un mardi sur deux à 18h", ["2026-12-08 17:00", "2026-12-22 17:00", "2027-01-05 17:00"]),
    ("every other Tuesday at 6pm", ["2026-12-08 17:00", "2026-12-22 17:00", "2027-01-05 17:00"]),
    (
        "le premier jeudi du mois à 14h",
        ["2027-01-07 13:00", "2027-02-04 13:00", "2027-03-04 13:00"],
    ),
    (
        "first Thursday of the month at 2pm",
        ["2027-01-07 13:00", "2027-02-04 13:00", "2027-03-04 13:00"],
    ),
    (
        "le deuxième mardi du mois à 18h",
        ["2026-12-08 17:00", "2027-01-12 17:00", "2027-02-09 17:00"],
    ),
    (
        "le dernier vendredi du mois à 18h",
        ["2026-12-25 17:00", "2027-01-29 17:00", "2027-02-26 17:00"],
    ),
    (
        "last Friday of the month at 6pm",
        ["2026-12-25 17:00", "2027-01-29 17:00", "2027-02-26 17:00"],
    ),
    ("le 15 de chaque mois à 9h", ["2026-12-15 08:00", "2027-01-15 08:00", "2027-02-15 08:00"]),
    (
        "on the 15th of every month at 9am",
        ["2026-12-15 08:00", "2027-01-15 08:00", "2027-02-15 08:00"],
    ),
    # month ends: February has 28 days, the last day of the month follows it
    ("le 28 de chaque mois à 9h", ["2026-12-28 08:00", "2027-01-28 08:00", "2027-02-28 08:00"]),
    (
        "le dernier jour du mois à 18h",
        ["2026-12-31 17:00", "2027-01-31 17:00", "2027-02-28 17:00", "2027-03-31 16:00"],
    ),
    (
        "tous les jours ouvrés à 9h",
        [
            "2026-12-07 08:00",
            "2026-12-08 08:00",
            "2026-12-09 08:00",
            "2026-12-10 08:00",
            "2026-12-11 08:00",
            "2026-12-14 08:00",
        ],
    ),
    ("every weekday at 9am", ["2026-12-07 08:00", "2026-12-08 08:00", "2026-12-09 08:00"]),
    # today still counts when the time is to come, not when it is now
    ("tous les samedis à 10h", ["2026-12-05 09:00", "2026-12-12 09:00"]),
    ("tous les samedis à 9h", ["2026-12-12 08:00", "2026-12-19 08:00"]),
    # spring forward, last Sunday of March: same wall time, one hour less in UTC
    (
        "tous les dimanches à 10h à partir du 21 mars",
        ["2027-03-21 09:00", "2027-03-28 08:00", "2027-04-04 08:00"],
    ),
    # a time inside the spring gap moves forward by the gap (02:30 → 03:30) that day only
    (
        "every Sunday at 2:30am from March 21",
        ["2027-03-21 01:30", "2027-03-28 01:30", "2027-04-04 00:30"],
    ),
    # fall back, last Sunday of October: the repeated 02:30 is the first one (summer time)
    (
        "tous les dimanches à 2h30 à partir du 17 octobre",
        ["2027-10-17 00:30", "2027-10-24 00:30", "2027-10-31 00:30", "2027-11-07 01:30"],
    ),
    (
        "every Tuesday at 6pm from October 19",
        ["2027-10-19 16:00", "2027-10-26 16:00", "2027-11-02 17:00"],
    ),
    ("le 15 de chaque mois à 9h à partir du 1er mars", ["2027-03-15 08:00", "2027-04-15 07:00"]),
    # several days of the week
    (
        "tous les lundis et jeudis à 18h",
        ["2026-12-07 17:00", "2026-12-10 17:00", "2026-12-14 17:00", "2026-12-17 17:00"],
    ),
    (
        "every Monday, Wednesday and Friday at 9am",
        ["2026-12-07 08:00", "2026-12-09 08:00", "2026-12-11 08:00", "2026-12-14 08:00"],
    ),
    (
        "chaque semaine le lundi et le jeudi à 18h",
        ["2026-12-07 17:00", "2026-12-10 17:00", "2026-12-14 17:00"],
    ),
    # the same rules in other words
    ("toutes les semaines le mardi à 18h", ["2026-12-08 17:00", "2026-12-15 17:00"]),
    ("weekly on Tuesdays at 6pm", ["2026-12-08 17:00", "2026-12-15 17:00"]),
    ("tous les quinze jours le mardi à 18h", ["2026-12-08 17:00", "2026-12-22 17:00"]),
    ("every two weeks on Tuesday at 6pm", ["2026-12-08 17:00", "2026-12-22 17:00"]),
    ("tous les mois le 15 à 9h", ["2026-12-15 08:00", "2027-01-15 08:00"]),
    ("every month on the 15th at 9am", ["2026-12-15 08:00", "2027-01-15 08:00"]),
    ("tous les mois le premier jeudi à 14h", ["2027-01-07 13:00", "2027-02-04 13:00"]),
    ("monthly on the last day at 6pm", ["2026-12-31 17:00", "2027-01-31 17:00"]),
]

# phrase → every occurrence of a bounded rule
BOUNDED = [
    (
        "tous les mardis à 18h jusqu'au 22 décembre",
        ["2026-12-08 17:00", "2026-12-15 17:00", "2026-12-22 17:00"],
    ),
    (
        "every Tuesday at 6pm until December 22",
        ["2026-12-08 17:00", "2026-12-15 17:00", "2026-12-22 17:00"],
    ),
    ("every weekday at 9am 3 times", ["2026-12-07 08:00", "2026-12-08 08:00", "2026-12-09 08:00"]),
    (
        "tous les mardis à 18h, à partir du 12 janvier, 2 fois",
        ["2027-01-12 17:00", "2027-01-19 17:00"],
    ),
    (
        "tous les lundis et jeudis à 18h jusqu'au 20 décembre",
        ["2026-12-07 17:00", "2026-12-10 17:00", "2026-12-14 17:00", "2026-12-17 17:00"],
    ),
    (
        "un mardi sur deux à 18h à partir du 20 mars jusqu'au 20 avril",
        ["2027-03-23 17:00", "2027-04-06 16:00", "2027-04-20 16:00"],
    ),
    (
        "le dernier dimanche du mois à 2h30 à partir du 1er mars 2 fois",
        ["2027-03-28 01:30", "2027-04-25 00:30"],
    ),
]


@pytest.mark.parametrize(("phrase", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_phrase_gives_its_occurrences(phrase, expected):
    series = parse_rule(phrase, now=NOW, tz=PARIS)
    got = list(islice(series.occurrences(PARIS), len(expected)))
    assert got == [z(moment) for moment in expected]
    assert series.first == z(expected[0])


@pytest.mark.parametrize(("phrase", "expected"), BOUNDED, ids=[row[0] for row in BOUNDED])
def test_bounded_phrase_gives_all_its_occurrences(phrase, expected):
    series = parse_rule(phrase, now=NOW, tz=PARIS)
    assert list(series.occurrences(PARIS)) == [z(moment) for moment in expected]
    assert last_occurrence(series.rule, series.first, PARIS) == z(expected[-1])


@pytest.mark.parametrize("phrase", [row[0] for row in TABLE + BOUNDED])
def test_stored_rule_reads_back_the_same(phrase):
    rule = parse_rule(phrase, now=NOW, tz=PARIS).rule
    assert Rule.from_rrule_text(rule.rrule_text()) == rule


def test_occurrences_after_and_before_a_moment():
    series = parse_rule("tous les mardis à 18h", now=NOW, tz=PARIS)
    window = list(
        series.occurrences(PARIS, after=z("2026-12-15 17:00"), before=z("2027-01-01 00:00"))
    )
    assert window == [z("2026-12-22 17:00"), z("2026-12-29 17:00")]


@pytest.mark.parametrize(
    ("phrase", "language", "words"),
    [
        (
            "tous les mardis à 18h jusqu'au 30 juin",
            "fr",
            "tous les mardis à 18:00, à partir du mardi 8 décembre 2026, "
            "jusqu'au mardi 29 juin 2027",
        ),
        (
            "every other Tuesday at 6pm 10 times",
            "en",
            "every other Tuesday at 18:00, from Tuesday 8 December 2026, 10 times",
        ),
        (
            "tous les lundis, mercredis et vendredis à 9h",
            "fr",
            "tous les lundis, mercredis et vendredis à 09:00, à partir du lundi 7 décembre 2026",
        ),
        (
            "every Monday and Thursday at 6pm 4 times",
            "en",
            "every Monday and Thursday at 18:00, from Monday 7 December 2026, 4 times",
        ),
        (
            "tous les lundis, mardis, mercredis, jeudis et vendredis à 9h",
            "fr",
            "tous les jours ouvrés à 09:00, à partir du lundi 7 décembre 2026",
        ),
        (
            "le premier jeudi du mois à 14h",
            "fr",
            "le premier jeudi du mois à 14:00, à partir du jeudi 7 janvier 2027",
        ),
        (
            "le 1er de chaque mois à 9h",
            "fr",
            "le 1er de chaque mois à 09:00, à partir du vendredi 1er janvier 2027",
        ),
        (
            "on the 2nd of every month at 9am",
            "en",
            "on the 2nd of every month at 09:00, from Saturday 2 January 2027",
        ),
        (
            "every weekday at 9am",
            "fr",
            "tous les jours ouvrés à 09:00, à partir du lundi 7 décembre 2026",
        ),
    ],
)
def test_rule_in_words(phrase, language, words):
    series = parse_rule(phrase, now=NOW, tz=PARIS)
    assert describe_rule(series.rule, series.first, PARIS, language=language) == words


@pytest.mark.parametrize(
    ("phrase", "msgid"),
    [
        ("le 31 de chaque mois à 9h", MSG_MONTH_END),
        ("on the 30th of every month at 9am", MSG_MONTH_END),
        ("tous les mardis à 18h à partir du 12 janvier jusqu'au 5 janvier", MSG_UNTIL_BEFORE_START),
        ("tous les mardis", MSG_NO_TIME),
        ("every Tuesday", MSG_NO_TIME),
        ("tous les machins à 18h", MSG_NOT_UNDERSTOOD),
        ("le cinquième jeudi du mois à 14h", MSG_NOT_UNDERSTOOD),
        ("tous les mardis à 18h demain", MSG_NOT_UNDERSTOOD),
        ("tous les mardis à 18h jusqu'au 30 juin 10 fois", MSG_UNTIL_AND_COUNT),
        ("tous les mardis à 18h 0 fois", MSG_BAD_COUNT),
        ("every Tuesday at 6pm 1000 times", MSG_BAD_COUNT),
    ],
)
def test_impossible_or_ambiguous_rules_are_refused_with_an_example(phrase, msgid):
    with pytest.raises(DateError) as refused:
        parse_rule(phrase, now=NOW, tz=PARIS)
    assert refused.value.message.msgid == msgid


def test_until_date_that_is_not_a_date_is_refused():
    with pytest.raises(DateError):
        parse_rule("tous les mardis à 18h jusqu'au 45 juin", now=NOW, tz=PARIS)


@pytest.mark.parametrize(
    ("text", "recurring"),
    [
        ("tous les mardis à 18h", True),
        ("every other Tuesday at 6pm", True),
        ("le 15 de chaque mois à 9h", True),
        ("mardi prochain 18h", False),
        ("11 mai 9h30", False),
        ("June 30 11:59pm", False),
    ],
)
def test_a_rule_is_told_from_a_date(text, recurring):
    assert looks_recurring(text) is recurring


@pytest.mark.parametrize("phrase", [row[0] for row in TABLE + BOUNDED])
def test_occurrences_after_a_moment_years_later_are_those_of_the_whole_expansion(phrase):
    """Asking from a later moment (the anchor moved closer) gives the same meetings as
    expanding the series from its first one."""
    series = parse_rule(phrase, now=NOW, tz=PARIS)
    whole = list(islice(series.occurrences(PARIS), 400))
    for days in (0, 1, 45, 63, 100, 200, 367, 700, 1000):
        after = NOW + timedelta(days=days, hours=days % 24)
        expected = [moment for moment in whole if moment > after][:5]
        if len(expected) < 5 and len(whole) == 400:
            continue  # beyond what was expanded here
        assert list(islice(series.occurrences(PARIS, after=after), 5)) == expected, after
