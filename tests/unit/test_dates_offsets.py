"""parse_offsets: reminder offsets as typed in French and English, their errors, round trips."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import dates
from bot.text.dates import DateError, format_offset, parse_offsets
from bot.text.i18n import Message, Translations

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7j, 1j, 1h", [7 * DAY, DAY, HOUR]),
        ("14j, 7j, 3j, 1j", [14 * DAY, 7 * DAY, 3 * DAY, DAY]),
        ("30min", [30 * MINUTE]),
        ("7d, 1d, 2h, 30m", [7 * DAY, DAY, 2 * HOUR, 30 * MINUTE]),
        ("7d 1d 2h 30m", [7 * DAY, DAY, 2 * HOUR, 30 * MINUTE]),
        ("1 semaine", [7 * DAY]),
        ("2 semaines, 3 jours", [14 * DAY, 3 * DAY]),
        ("1 week, 2 days, 5 hours, 10 minutes", [7 * DAY, 2 * DAY, 5 * HOUR, 10 * MINUTE]),
        ("1j, 7j", [7 * DAY, DAY]),  # sorted, largest first
        ("1h, 30min, 1j", [DAY, HOUR, 30 * MINUTE]),
        ("7J, 1H", [7 * DAY, HOUR]),
        ("  7j ,1j ;  2h ", [7 * DAY, DAY, 2 * HOUR]),
        ("1 jour", [DAY]),
        ("3 jours", [3 * DAY]),
        ("2 heures", [2 * HOUR]),
        ("1 heure", [HOUR]),
        ("45 mn", [45 * MINUTE]),
        ("15 minutes", [15 * MINUTE]),
        ("1sem", [7 * DAY]),
        ("2w", [14 * DAY]),
        ("1 hour", [HOUR]),
        ("1h30", [90 * MINUTE]),
        ("36h", [36 * HOUR]),
        ("365j", [365 * DAY]),
        ("52 semaines", [364 * DAY]),
        ("une semaine, un jour", [7 * DAY, DAY]),
    ],
)
def test_offsets(text: str, expected: list[timedelta]) -> None:
    assert parse_offsets(text) == expected


@pytest.mark.parametrize(
    ("text", "msgid"),
    [
        ("", dates.MSG_OFFSETS_EMPTY),
        ("   ", dates.MSG_OFFSETS_EMPTY),
        (" , ", dates.MSG_OFFSETS_EMPTY),
        ("0j", dates.MSG_OFFSET_NOT_POSITIVE),
        ("0min", dates.MSG_OFFSET_NOT_POSITIVE),
        ("-1j", dates.MSG_OFFSET_NOT_POSITIVE),
        ("7j, -2h", dates.MSG_OFFSET_NOT_POSITIVE),
        ("7j, 7j", dates.MSG_OFFSET_DUPLICATE),
        ("1j, 24h", dates.MSG_OFFSET_DUPLICATE),
        ("1 semaine, 7j", dates.MSG_OFFSET_DUPLICATE),
        ("366j", dates.MSG_OFFSET_TOO_LARGE),
        ("53 semaines", dates.MSG_OFFSET_TOO_LARGE),
        ("9000h", dates.MSG_OFFSET_TOO_LARGE),
        ("999999 weeks", dates.MSG_OFFSET_TOO_LARGE),
        ("7x", dates.MSG_OFFSET_NOT_UNDERSTOOD),
        ("abc", dates.MSG_OFFSET_NOT_UNDERSTOOD),
        ("1.5h", dates.MSG_OFFSET_NOT_UNDERSTOOD),
        ("j", dates.MSG_OFFSET_NOT_UNDERSTOOD),
        ("7", dates.MSG_OFFSET_NOT_UNDERSTOOD),
        ("1 an", dates.MSG_OFFSET_NOT_UNDERSTOOD),
        ("1 heure et 30 minutes", dates.MSG_OFFSET_NOT_UNDERSTOOD),  # one reminder or two?
        ("7j1j", dates.MSG_OFFSET_NOT_UNDERSTOOD),
        ("¸", dates.MSG_OFFSET_NOT_UNDERSTOOD),  # only an accent, which normalises away
    ],
)
def test_offset_errors(text: str, msgid: str) -> None:
    with pytest.raises(DateError) as caught:
        parse_offsets(text)
    assert isinstance(caught.value.message, Message)
    assert caught.value.message.msgid == msgid


def test_errors_quote_the_offending_offset() -> None:
    with pytest.raises(DateError) as caught:
        parse_offsets("7j, 1j, 24h")
    assert caught.value.message.params == {"text": "24h", "other": "1j"}
    assert Translations().for_language("fr").render(caught.value.message) == (
        "Le rappel « 24h » est le même délai que « 1j ». Écrivez chaque rappel une seule fois, "
        "par exemple : 7j, 1j, 1h."
    )
    with pytest.raises(DateError) as caught:
        parse_offsets("7j, 2 mois")
    assert Translations().for_language("en").render(caught.value.message) == (
        "I did not understand the reminder “7j, 2 mois”. Write a number and a unit, "
        "for example: 7d, 1d, 2h, 30m."
    )


@pytest.mark.parametrize("language", ["fr", "en"])
def test_defaults_round_trip_through_format_offset(language: str) -> None:
    for text in ("7j, 1j, 1h", "14j, 7j, 3j, 1j", "7d, 1d, 2h, 30m"):
        offsets = parse_offsets(text)
        written = ", ".join(format_offset(offset, language=language) for offset in offsets)
        assert parse_offsets(written) == offsets


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_gives_sorted_positive_offsets_or_a_date_error(text: str) -> None:
    try:
        offsets = parse_offsets(text)
    except DateError as error:
        assert isinstance(error.message, Message)
        return
    assert offsets
    assert offsets == sorted(set(offsets), reverse=True)
    assert all(timedelta(0) < offset <= timedelta(days=365) for offset in offsets)


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.sets(st.integers(min_value=1, max_value=365 * 24 * 60), min_size=1, max_size=6),
    language=st.sampled_from(["fr", "en"]),
)
def test_formatted_offsets_read_back(minutes: set[int], language: str) -> None:
    offsets = [timedelta(minutes=value) for value in minutes]
    written = ", ".join(format_offset(offset, language=language) for offset in offsets)
    assert parse_offsets(written) == sorted(offsets, reverse=True)
