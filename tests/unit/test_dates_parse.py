"""parse_when: French and English phrases at frozen moments, errors, DST and a property test."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import dates
from bot.text.dates import DateError, parse_when
from bot.text.i18n import Message, Translations

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")

# Monday 15 June 2026, 10:00 in Paris: the main anchor.
MONDAY = datetime(2026, 6, 15, 10, 0, tzinfo=PARIS)


def paris(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A Paris wall-clock moment (never inside a DST change), as the parser returns it."""
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


def parse(text: str, now: datetime = MONDAY, tz: ZoneInfo = PARIS) -> datetime:
    return parse_when(text, now=now, tz=tz)


FRENCH = [
    ("demain", paris(2026, 6, 16)),
    ("demain 18h", paris(2026, 6, 16, 18)),
    ("Demain à 18h", paris(2026, 6, 16, 18)),
    ("après-demain 9h", paris(2026, 6, 17, 9)),
    ("apres-demain", paris(2026, 6, 17)),
    ("Après-Demain midi", paris(2026, 6, 17, 12)),
    ("apres demain 10h", paris(2026, 6, 17, 10)),
    ("aujourd'hui 15h", paris(2026, 6, 15, 15)),
    ("aujourd’hui à 15h30", paris(2026, 6, 15, 15, 30)),
    ("ce soir", paris(2026, 6, 15, 20)),
    ("ce soir 21h", paris(2026, 6, 15, 21)),
    ("ce soir 9h", paris(2026, 6, 15, 21)),
    ("ce midi", paris(2026, 6, 15, 12)),
    ("cet après-midi", paris(2026, 6, 15, 14)),
    ("midi", paris(2026, 6, 15, 12)),
    ("minuit", paris(2026, 6, 16, 0)),
    ("demain midi", paris(2026, 6, 16, 12)),
    ("demain soir", paris(2026, 6, 16, 20)),
    ("demain matin", paris(2026, 6, 16, 9)),
    ("mardi", paris(2026, 6, 16)),
    ("mardi prochain", paris(2026, 6, 16)),
    ("prochain mardi 14h", paris(2026, 6, 16, 14)),
    ("mardi prochain 14h", paris(2026, 6, 16, 14)),
    ("lundi", paris(2026, 6, 22)),  # today's weekday without a time: next week
    ("lundi 18h", paris(2026, 6, 15, 18)),  # today's weekday, time still to come: today
    ("lundi 8h", paris(2026, 6, 22, 8)),  # today's weekday, time gone: next week
    ("lundi prochain", paris(2026, 6, 22)),
    ("vendredi 20h", paris(2026, 6, 19, 20)),
    ("VENDREDI 20H", paris(2026, 6, 19, 20)),
    ("dimanche", paris(2026, 6, 21)),
    ("jeudi soir", paris(2026, 6, 18, 20)),
    ("mercredi 14h30", paris(2026, 6, 17, 14, 30)),
    ("dans 3 jours", paris(2026, 6, 18, 10)),
    ("dans 2 heures", paris(2026, 6, 15, 12)),
    ("dans 90 minutes", paris(2026, 6, 15, 11, 30)),
    ("dans une heure", paris(2026, 6, 15, 11)),
    ("dans 1 semaine", paris(2026, 6, 22, 10)),
    ("dans deux semaines", paris(2026, 6, 29, 10)),
    ("dans une demi-heure", paris(2026, 6, 15, 10, 30)),
    ("dans un quart d'heure", paris(2026, 6, 15, 10, 15)),
    ("dans 1h30", paris(2026, 6, 15, 11, 30)),
    ("dans 1 jour et 2 heures", paris(2026, 6, 16, 12)),
    ("dans 3 jours à 14h", paris(2026, 6, 18, 14)),
    ("dans 3 jours 14h", paris(2026, 6, 18, 14)),  # a clock time ends the duration
    ("dans 3 jours 2 heures", paris(2026, 6, 18, 12)),
    ("dans 2 jours 14h30", paris(2026, 6, 17, 14, 30)),
    ("dans 1 semaine et 2 jours", paris(2026, 6, 24, 10)),
    ("14h demain", paris(2026, 6, 16, 14)),
    ("demain après-midi 3h", paris(2026, 6, 16, 15)),
    ("2027/06/30", paris(2027, 6, 30)),
    ("d'ici 2 semaines", paris(2026, 6, 29, 10)),
    ("9h30", paris(2026, 6, 16, 9, 30)),  # a time already gone today: tomorrow
    ("14h", paris(2026, 6, 15, 14)),
    ("9:30", paris(2026, 6, 16, 9, 30)),
    ("14 h 30", paris(2026, 6, 15, 14, 30)),
    ("à 9h", paris(2026, 6, 16, 9)),
    ("a 14 heures", paris(2026, 6, 15, 14)),
    ("11 mai", paris(2027, 5, 11)),
    ("11 mai 9h30", paris(2027, 5, 11, 9, 30)),
    ("11/05", paris(2027, 5, 11)),
    ("11/05/2027", paris(2027, 5, 11)),
    ("11.05.2027", paris(2027, 5, 11)),
    ("11-05-2027", paris(2027, 5, 11)),
    ("30/06/27", paris(2027, 6, 30)),
    ("le 1er juin", paris(2027, 6, 1)),
    ("1er juin 2027", paris(2027, 6, 1)),
    ("11 mai à 9h30", paris(2027, 5, 11, 9, 30)),
    ("le 11 mai à 14h", paris(2027, 5, 11, 14)),
    ("30 juin 23h59", paris(2026, 6, 30, 23, 59)),
    ("30/06 23h59", paris(2026, 6, 30, 23, 59)),
    ("avant le 30 juin", paris(2026, 6, 30)),
    ("pour le 30/06 à 18h", paris(2026, 6, 30, 18)),
    ("jusqu'au 2 août", paris(2026, 8, 2)),
    ("le 2 aout", paris(2026, 8, 2)),
    ("15 juin 18h", paris(2026, 6, 15, 18)),  # today, later on
    ("jeudi 18 juin", paris(2026, 6, 18)),
    ("vendredi 12 mars 2027 10h", paris(2027, 3, 12, 10)),
    ("1 janvier", paris(2027, 1, 1)),
    ("29/02", paris(2028, 2, 29)),  # the next 29 February
    ("2027-06-30", paris(2027, 6, 30)),
    ("2027-06-30 23:59", paris(2027, 6, 30, 23, 59)),
    ("2027-06-30T23:59", paris(2027, 6, 30, 23, 59)),
    ("2027-06-30T23:59:00", paris(2027, 6, 30, 23, 59)),
    ("  le   11 mai  ", paris(2027, 5, 11)),
    ("11 mai.", paris(2027, 5, 11)),
]

ENGLISH = [
    ("tomorrow", paris(2026, 6, 16)),
    ("today 5pm", paris(2026, 6, 15, 17)),
    ("tonight", paris(2026, 6, 15, 20)),
    ("this evening", paris(2026, 6, 15, 20)),
    ("noon", paris(2026, 6, 15, 12)),
    ("midnight", paris(2026, 6, 16, 0)),
    ("tomorrow noon", paris(2026, 6, 16, 12)),
    ("tomorrow at 9:15am", paris(2026, 6, 16, 9, 15)),
    ("day after tomorrow", paris(2026, 6, 17)),
    ("next friday 5pm", paris(2026, 6, 19, 17)),
    ("friday 5pm", paris(2026, 6, 19, 17)),
    ("on friday at 17:00", paris(2026, 6, 19, 17)),
    ("next tuesday 2pm", paris(2026, 6, 16, 14)),
    ("next monday", paris(2026, 6, 22)),
    ("Monday 6pm", paris(2026, 6, 15, 18)),
    ("June 30 11:59pm", paris(2026, 6, 30, 23, 59)),
    ("30 June", paris(2026, 6, 30)),
    ("June 30, 2027", paris(2027, 6, 30)),
    ("by June 30th", paris(2026, 6, 30)),
    ("the 4th of July at 8pm", paris(2026, 7, 4, 20)),
    ("in 90 minutes", paris(2026, 6, 15, 11, 30)),
    ("in 2 hours", paris(2026, 6, 15, 12)),
    ("in 3 days", paris(2026, 6, 18, 10)),
    ("in a week", paris(2026, 6, 22, 10)),
    ("in half an hour", paris(2026, 6, 15, 10, 30)),
    ("in a quarter of an hour", paris(2026, 6, 15, 10, 15)),
    ("in 2 hours and 30 minutes", paris(2026, 6, 15, 12, 30)),  # "and" is not "an d"
    ("in 2h 30m", paris(2026, 6, 15, 12, 30)),
    ("5pm tomorrow", paris(2026, 6, 16, 17)),
    ("sat 2pm", paris(2026, 6, 20, 14)),
    ("5pm", paris(2026, 6, 15, 17)),
    ("5 p.m.", paris(2026, 6, 15, 17)),
    ("5:30 pm", paris(2026, 6, 15, 17, 30)),
    ("11:59pm", paris(2026, 6, 15, 23, 59)),
    ("12am", paris(2026, 6, 16, 0)),
    ("12pm", paris(2026, 6, 15, 12)),
    ("12:30am", paris(2026, 6, 16, 0, 30)),
]


@pytest.mark.parametrize(("text", "expected"), FRENCH + ENGLISH)
def test_phrases_at_monday_morning(text: str, expected: datetime) -> None:
    result = parse(text)
    assert result == expected
    assert result.tzinfo is UTC


def test_relative_hours_are_exact() -> None:
    now = datetime(2026, 6, 15, 10, 7, 31, 123456, tzinfo=PARIS)
    assert parse("dans 2 heures", now=now) == now + timedelta(hours=2)
    assert parse("in 1 day", now=now) == now + timedelta(days=1)


def test_default_time_is_the_callers_choice() -> None:
    assert parse_when("demain", now=MONDAY, tz=PARIS, default_time=time(18, 0)) == paris(
        2026, 6, 16, 18
    )
    # A written time wins over the default.
    assert parse_when("demain 8h", now=MONDAY, tz=PARIS, default_time=time(18, 0)) == paris(
        2026, 6, 16, 8
    )


def test_now_in_another_timezone_than_the_room() -> None:
    assert parse("demain 18h", now=MONDAY.astimezone(UTC)) == paris(2026, 6, 16, 18)


def test_other_room_timezone() -> None:
    now = datetime(2026, 6, 15, 10, 0, tzinfo=NEW_YORK)
    assert parse("tomorrow 5pm", now=now, tz=NEW_YORK) == datetime(2026, 6, 16, 21, 0, tzinfo=UTC)
    assert parse("demain 17h", now=now, tz=NEW_YORK) == datetime(2026, 6, 16, 21, 0, tzinfo=UTC)


def test_fallback_reads_forms_outside_the_grammar() -> None:
    assert parse("dans 1 mois") == paris(2026, 7, 15, 10)
    assert parse("in 3 months") == paris(2026, 9, 15, 10)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_when("demain", now=datetime(2026, 6, 15, 10), tz=PARIS)


# --- DST and year boundary ---------------------------------------------------------------------

SPRING_FRIDAY = datetime(2027, 3, 26, 10, 0, tzinfo=PARIS)  # clocks go forward on Sunday 28
AUTUMN_SATURDAY = datetime(2026, 10, 24, 12, 0, tzinfo=PARIS)  # clocks go back on Sunday 25
NEW_YEARS_EVE = datetime(2026, 12, 31, 22, 0, tzinfo=PARIS)  # a Thursday


@pytest.mark.parametrize(
    ("text", "now", "expected_utc"),
    [
        # Calendar days keep the wall-clock time: Friday 10:00 CET + 3 days = Monday 10:00 CEST.
        ("dans 3 jours", SPRING_FRIDAY, datetime(2027, 3, 29, 8, 0)),
        ("in 3 days", SPRING_FRIDAY, datetime(2027, 3, 29, 8, 0)),
        # Hours are real hours: 72 of them end at 11:00 CEST.
        ("dans 72 heures", SPRING_FRIDAY, datetime(2027, 3, 29, 9, 0)),
        # 02:30 does not exist on 28 March 2027: moved forward by the gap, to 03:30 CEST.
        ("dimanche 2h30", SPRING_FRIDAY, datetime(2027, 3, 28, 1, 30)),
        ("28/03/2027 2h30", SPRING_FRIDAY, datetime(2027, 3, 28, 1, 30)),
        ("dimanche 1h59", SPRING_FRIDAY, datetime(2027, 3, 28, 0, 59)),
        ("dimanche 3h", SPRING_FRIDAY, datetime(2027, 3, 28, 1, 0)),
        # "dans 1 jour" landing in the gap is moved forward the same way.
        ("dans 1 jour", datetime(2027, 3, 27, 2, 30, tzinfo=PARIS), datetime(2027, 3, 28, 1, 30)),
        # 02:30 happens twice on 25 October 2026: the first one (CEST, +02:00) is taken.
        ("demain 2h30", AUTUMN_SATURDAY, datetime(2026, 10, 25, 0, 30)),
        ("2026-10-25 02:30", AUTUMN_SATURDAY, datetime(2026, 10, 25, 0, 30)),
        ("25/10 3h", AUTUMN_SATURDAY, datetime(2026, 10, 25, 2, 0)),
        ("demain 1h59", AUTUMN_SATURDAY, datetime(2026, 10, 24, 23, 59)),
        ("dans 1 jour", AUTUMN_SATURDAY, datetime(2026, 10, 25, 11, 0)),
        ("dans 24 heures", AUTUMN_SATURDAY, datetime(2026, 10, 25, 10, 0)),
        # Year boundary.
        ("demain", NEW_YEARS_EVE, datetime(2027, 1, 1, 8, 0)),
        ("1er janvier", NEW_YEARS_EVE, datetime(2027, 1, 1, 8, 0)),
        ("2 janvier", NEW_YEARS_EVE, datetime(2027, 1, 2, 8, 0)),
        ("minuit", NEW_YEARS_EVE, datetime(2026, 12, 31, 23, 0)),
        ("vendredi", NEW_YEARS_EVE, datetime(2027, 1, 1, 8, 0)),
        ("jeudi", NEW_YEARS_EVE, datetime(2027, 1, 7, 8, 0)),
        ("jeudi 23h", NEW_YEARS_EVE, datetime(2026, 12, 31, 22, 0)),
        ("lundi prochain", NEW_YEARS_EVE, datetime(2027, 1, 4, 8, 0)),
        ("31 décembre 23h", NEW_YEARS_EVE, datetime(2026, 12, 31, 22, 0)),
        ("in 3 hours", NEW_YEARS_EVE, datetime(2027, 1, 1, 0, 0)),
        ("10h", NEW_YEARS_EVE, datetime(2027, 1, 1, 9, 0)),
    ],
)
def test_dst_and_year_boundary(text: str, now: datetime, expected_utc: datetime) -> None:
    assert parse(text, now=now) == expected_utc.replace(tzinfo=UTC)


# --- Errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "msgid"),
    [
        ("", dates.MSG_EMPTY),
        ("   ", dates.MSG_EMPTY),
        ("hello", dates.MSG_NOT_UNDERSTOOD),
        ("blabla 14h", dates.MSG_NOT_UNDERSTOOD),
        ("juin", dates.MSG_NOT_UNDERSTOOD),
        ("le", dates.MSG_NOT_UNDERSTOOD),  # only filler words
        ("¸", dates.MSG_NOT_UNDERSTOOD),  # only an accent, which normalises away
        ("25", dates.MSG_NOT_UNDERSTOOD),
        ("tonight 9", dates.MSG_NOT_UNDERSTOOD),  # a bare number is not a time
        ("mardi prochain prochain", dates.MSG_NOT_UNDERSTOOD),
        ("x" * 500, dates.MSG_NOT_UNDERSTOOD),
        ("aujourd'hui", dates.MSG_PAST),  # 09:00 by default, and it is 10:00
        ("15 juin 8h", dates.MSG_PAST),  # today, time gone: not moved a year ahead
        ("11/05/2020", dates.MSG_PAST),
        ("2026-06-15 09:00", dates.MSG_PAST),
        ("dans 0 minutes", dates.MSG_PAST),
        ("dans -2 heures", dates.MSG_PAST),
        ("ce matin", dates.MSG_PAST),
        ("31/02", dates.MSG_INVALID_DAY),
        ("32 mai", dates.MSG_INVALID_DAY),
        ("31 avril", dates.MSG_INVALID_DAY),
        ("0/5", dates.MSG_INVALID_DAY),
        ("29/02/2027", dates.MSG_INVALID_DAY),
        ("11/13", dates.MSG_INVALID_MONTH),
        ("06/30", dates.MSG_INVALID_MONTH),  # month/day order is never read
        ("25h", dates.MSG_INVALID_TIME),
        ("demain 25h", dates.MSG_INVALID_TIME),
        ("9h75", dates.MSG_INVALID_TIME),
        ("24:00", dates.MSG_INVALID_TIME),
        ("13pm", dates.MSG_INVALID_TIME),
        ("0am", dates.MSG_INVALID_TIME),
        ("jeudi 12 mars", dates.MSG_WEEKDAY_MISMATCH),
        ("mardi 30 juin 2027", dates.MSG_WEEKDAY_MISMATCH),
        ("lundi demain", dates.MSG_WEEKDAY_MISMATCH),
        ("demain 9h 10h", dates.MSG_CONFLICT),
        ("demain 11 mai", dates.MSG_CONFLICT),
        ("11 mai 12 mai", dates.MSG_CONFLICT),
        ("dans 2 heures à 14h", dates.MSG_CONFLICT),
        ("dans 3 jours mardi", dates.MSG_CONFLICT),
        ("dans 5000 jours", dates.MSG_TOO_FAR),
        ("dans 999999 semaines", dates.MSG_TOO_FAR),
        ("11/05/2099", dates.MSG_TOO_FAR),
    ],
)
def test_errors_name_what_was_wrong(text: str, msgid: str) -> None:
    with pytest.raises(DateError) as caught:
        parse(text)
    message = caught.value.message
    assert isinstance(message, Message)
    assert message.msgid == msgid
    if msgid != dates.MSG_EMPTY:
        assert message.params["text"]


def test_errors_are_value_errors() -> None:
    assert issubclass(DateError, ValueError)


def test_weekday_mismatch_names_the_real_weekday_in_the_room_language() -> None:
    with pytest.raises(DateError) as caught:
        parse("jeudi 12 mars")
    assert caught.value.message.params["weekday"] == "vendredi"
    assert caught.value.message.params["given"] == "jeudi"
    french = Translations().for_language("fr").render(caught.value.message)
    assert french == (
        "« jeudi 12 mars » est ambigu : le 12 mars 2027 est un vendredi, pas un jeudi. "
        "Écrivez seulement la date, par exemple : 30 juin."
    )
    with pytest.raises(DateError) as caught:
        parse_when("thursday 12 March", now=MONDAY, tz=PARIS, language="en")
    english = Translations().for_language("en").render(caught.value.message)
    assert english == (
        "“thursday 12 March” is ambiguous: 12 March 2027 is a Friday, not a Thursday. "
        "Write only the date, for example: June 30."
    )


def test_past_error_repeats_the_date_in_words() -> None:
    with pytest.raises(DateError) as caught:
        parse("15 juin 8h")
    rendered = Translations().for_language("fr").render(caught.value.message)
    assert rendered == (
        "« 15 juin 8h » est déjà passé (lundi 15 juin 2026 à 08:00 (Europe/Paris)). "
        "Indiquez une date à venir, par exemple : demain 18h."
    )


def test_invalid_day_names_the_month() -> None:
    with pytest.raises(DateError) as caught:
        parse("31/02")
    assert Translations().for_language("fr").render(caught.value.message) == (
        "« 31/02 » n'est pas une date valide : il n'y a pas de 31 février. "
        "Écrivez par exemple : 30 juin ou 30/06."
    )


def test_not_understood_quotes_the_text_and_gives_examples() -> None:
    with pytest.raises(DateError) as caught:
        parse("quand tu veux")
    assert Translations().for_language("en").render(caught.value.message) == (
        "I did not understand the date “quand tu veux”. Write for example: tomorrow 6pm, "
        "June 30 11:59pm or in 2 hours."
    )


# --- Property ----------------------------------------------------------------------------------

# Words of the grammar, so generated phrases reach deep into the rules and not only "unknown".
GRAMMAR_WORDS = [
    "demain", "après-demain", "aujourd'hui", "ce", "soir", "midi", "minuit", "lundi", "mardi",
    "prochain", "next", "friday", "dans", "in", "3", "12", "1er", "31", "jours", "heures",
    "minutes", "semaine", "une", "a", "mai", "juin", "février", "june", "2027", "9h30", "14h",
    "25h", "17:00", "5pm", "12am", "11/05", "31/02", "2027-06-30", "à", "le", "at", "on", "et",
    "-", ",", "tonight", "noon", "1h30", "demi-heure", "0", "99", "2026-10-25", "2h30",
]  # fmt: skip

phrases = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(GRAMMAR_WORDS), min_size=1, max_size=5).map(" ".join),
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from([PARIS, NEW_YORK, ZoneInfo("UTC"), ZoneInfo("Pacific/Auckland")])


@settings(max_examples=300, deadline=None)
@given(text=phrases, now=moments, tz=zones, language=st.sampled_from(["fr", "en"]))
def test_any_text_gives_a_future_utc_moment_or_a_date_error(
    text: str, now: datetime, tz: ZoneInfo, language: str
) -> None:
    try:
        result = parse_when(text, now=now, tz=tz, language=language)
    except DateError as error:
        assert isinstance(error.message, Message)
        return
    assert result.tzinfo is UTC
    assert result > now
