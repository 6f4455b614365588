"""format_when, format_duration, format_offset in French and English; the French catalogue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.text import dates
from bot.text.dates import format_duration, format_offset, format_when
from bot.text.i18n import load_catalog

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("moment", "tz", "french", "english"),
    [
        (
            datetime(2027, 5, 11, 7, 30, tzinfo=UTC),
            PARIS,
            "mardi 11 mai 2027 à 09:30 (Europe/Paris)",
            "Tuesday 11 May 2027 at 09:30 (Europe/Paris)",
        ),
        (
            datetime(2027, 6, 1, 7, 0, tzinfo=UTC),
            PARIS,
            "mardi 1er juin 2027 à 09:00 (Europe/Paris)",
            "Tuesday 1 June 2027 at 09:00 (Europe/Paris)",
        ),
        (
            datetime(2026, 12, 31, 23, 0, tzinfo=UTC),
            PARIS,
            "vendredi 1er janvier 2027 à 00:00 (Europe/Paris)",
            "Friday 1 January 2027 at 00:00 (Europe/Paris)",
        ),
        (
            datetime(2026, 8, 15, 21, 59, tzinfo=UTC),
            PARIS,
            "samedi 15 août 2026 à 23:59 (Europe/Paris)",
            "Saturday 15 August 2026 at 23:59 (Europe/Paris)",
        ),
        (
            datetime(2026, 6, 16, 21, 0, tzinfo=UTC),
            NEW_YORK,
            "mardi 16 juin 2026 à 17:00 (America/New_York)",
            "Tuesday 16 June 2026 at 17:00 (America/New_York)",
        ),
        (  # the first 02:30 of the autumn change is summer time
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            PARIS,
            "dimanche 25 octobre 2026 à 02:30 (Europe/Paris)",
            "Sunday 25 October 2026 at 02:30 (Europe/Paris)",
        ),
        (  # an aware moment in another zone is shown in the room's zone
            datetime(2027, 5, 11, 9, 30, tzinfo=PARIS),
            PARIS,
            "mardi 11 mai 2027 à 09:30 (Europe/Paris)",
            "Tuesday 11 May 2027 at 09:30 (Europe/Paris)",
        ),
    ],
)
def test_format_when(moment: datetime, tz: ZoneInfo, french: str, english: str) -> None:
    assert format_when(moment, tz=tz, language="fr") == french
    assert format_when(moment, tz=tz, language="en") == english


@pytest.mark.parametrize(
    ("delta", "french", "english"),
    [
        (timedelta(days=3, hours=2), "3 jours et 2 heures", "3 days and 2 hours"),
        (timedelta(days=3, hours=2, minutes=59, seconds=59), "3 jours et 2 heures",
         "3 days and 2 hours"),
        (timedelta(minutes=45), "45 minutes", "45 minutes"),
        (timedelta(days=1), "1 jour", "1 day"),
        (timedelta(days=1, minutes=5), "1 jour", "1 day"),  # minutes are not next to days
        (timedelta(hours=2, minutes=5), "2 heures et 5 minutes", "2 hours and 5 minutes"),
        (timedelta(hours=1, minutes=1), "1 heure et 1 minute", "1 hour and 1 minute"),
        (timedelta(hours=5), "5 heures", "5 hours"),
        (timedelta(seconds=90), "1 minute", "1 minute"),
        (timedelta(days=400, hours=23), "400 jours et 23 heures", "400 days and 23 hours"),
        (timedelta(seconds=59), "moins d'une minute", "less than a minute"),
        (timedelta(0), "moins d'une minute", "less than a minute"),
        (timedelta(minutes=-5), "moins d'une minute", "less than a minute"),
    ],
)  # fmt: skip
def test_format_duration(delta: timedelta, french: str, english: str) -> None:
    assert format_duration(delta, language="fr") == french
    assert format_duration(delta, language="en") == english


@pytest.mark.parametrize(
    ("delta", "french", "english"),
    [
        (timedelta(days=7), "7j", "7d"),
        (timedelta(days=14), "14j", "14d"),
        (timedelta(days=1), "1j", "1d"),
        (timedelta(hours=1), "1h", "1h"),
        (timedelta(hours=2), "2h", "2h"),
        (timedelta(hours=36), "36h", "36h"),
        (timedelta(minutes=30), "30min", "30m"),
        (timedelta(minutes=90), "90min", "90m"),
        (timedelta(minutes=30, seconds=20), "30min", "30m"),
    ],
)
def test_format_offset(delta: timedelta, french: str, english: str) -> None:
    assert format_offset(delta, language="fr") == french
    assert format_offset(delta, language="en") == english


def _msgids() -> list[str]:
    return [value for name, value in vars(dates).items() if name.startswith("MSG_")]


@pytest.mark.parametrize("msgid", _msgids())
def test_every_message_has_a_french_translation_with_the_same_placeholders(msgid: str) -> None:
    translation = load_catalog("fr").get(msgid)
    assert translation, f"missing French translation for {msgid!r}"
    assert isinstance(translation, str)
    placeholders = set(re.findall(r"\{(\w+)\}", msgid))
    assert set(re.findall(r"\{(\w+)\}", translation)) == placeholders
