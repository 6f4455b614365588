"""Token rules of the date grammar: split a French or English phrase into its parts.

This module only *recognises*: it knows neither the current moment nor the room's timezone.
``bot.text.dates`` turns the recognised parts into a datetime, checks it and words the errors.
Keeping the two apart lets each rule be read (and tested) on its own.

The phrase is normalised (lower case, accents and typographic quotes removed), then each rule
below looks for its form, records what it found and blanks the matched text out. When every
rule has run, what is left must be filler words only ("le", "à", "at", …); otherwise the phrase
is not recognised and the caller may try another parser.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Literal

# re.ASCII makes \d mean 0-9 and \b ASCII-only, which is right once accents are gone (and keeps
# other scripts' digits from reaching int()).
_FLAGS = re.ASCII

ErrorKind = Literal["invalid_time", "invalid_day", "invalid_month", "conflict"]


class GrammarError(ValueError):
    """The phrase has the shape of a date but cannot be one (``25h``, ``32 mai``, two times)."""

    def __init__(self, kind: ErrorKind, **details: int | str) -> None:
        super().__init__(kind, details)
        self.kind: ErrorKind = kind
        self.details = details


@dataclass(frozen=True)
class CalendarDate:
    """A day and month as written, with the year when one was given."""

    day: int
    month: int
    year: int | None = None


@dataclass(frozen=True)
class ClockTime:
    """A time of day; ``meridiem`` records an explicit am/pm so "ce soir 9h" can mean 21:00."""

    value: time
    meridiem: bool = False


@dataclass
class Phrase:
    """Everything a date phrase said; fields not mentioned stay ``None``."""

    exact: timedelta | None = None  # "dans 2 heures": real elapsed time
    days_ahead: int | None = None  # "dans 3 jours": calendar days, wall-clock time kept
    day_shift: int | None = None  # aujourd'hui 0, demain 1, après-demain 2
    weekday: int | None = None  # 0 = Monday
    weekday_next: bool = False  # "mardi prochain": strictly after today
    calendar: CalendarDate | None = None
    clock: ClockTime | None = None
    part_of_day: time | None = None  # "soir": a default time, not an exact one
    evening: bool = False  # "soir"/"tonight": hours 1-11 without am/pm are pm

    def set(self, name: str, value: object) -> None:
        """Record one part, refusing a second one of the same kind ("demain 9h 10h")."""
        if getattr(self, name) is not None:
            raise GrammarError("conflict")
        setattr(self, name, value)


# --- Vocabulary -------------------------------------------------------------------------------

MONTHS: dict[str, int] = {
    "janvier": 1, "janv": 1, "january": 1, "jan": 1,
    "fevrier": 2, "fevr": 2, "fev": 2, "february": 2, "feb": 2,
    "mars": 3, "march": 3, "mar": 3,
    "avril": 4, "avr": 4, "april": 4, "apr": 4,
    "mai": 5, "may": 5,
    "juin": 6, "june": 6, "jun": 6,
    "juillet": 7, "juil": 7, "july": 7, "jul": 7,
    "aout": 8, "august": 8, "aug": 8,
    "septembre": 9, "september": 9, "sept": 9, "sep": 9,
    "octobre": 10, "october": 10, "oct": 10,
    "novembre": 11, "november": 11, "nov": 11,
    "decembre": 12, "december": 12, "dec": 12,
}  # fmt: skip

WEEKDAYS: dict[str, int] = {
    "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6, "mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3,
    "fri": 4, "sat": 5, "sun": 6,
}  # fmt: skip

# Duration units, as (minutes per unit). Days and weeks are calendar units: see Duration.
DURATION_UNITS: dict[str, int] = {
    **dict.fromkeys(("min", "mins", "mn", "m", "minute", "minutes"), 1),
    **dict.fromkeys(("h", "hr", "hrs", "heure", "heures", "hour", "hours"), 60),
    **dict.fromkeys(("j", "jr", "jrs", "jour", "jours", "d", "day", "days"), 24 * 60),
    **dict.fromkeys(("sem", "semaine", "semaines", "w", "wk", "wks", "week", "weeks"), 7 * 24 * 60),
}

NUMBER_WORDS: dict[str, int] = {
    "un": 1, "une": 1, "a": 1, "an": 1, "one": 1, "deux": 2, "two": 2, "trois": 3, "three": 3,
    "quatre": 4, "four": 4, "cinq": 5, "five": 5, "six": 6, "sept": 7, "seven": 7, "huit": 8,
    "eight": 8, "neuf": 9, "nine": 9, "dix": 10, "ten": 10, "quinze": 15, "fifteen": 15,
    "trente": 30, "thirty": 30,
}  # fmt: skip

DAY_WORDS: dict[str, int] = {
    "aujourd'hui": 0, "aujourdhui": 0, "aujourd hui": 0, "today": 0,
    "apres-demain": 2, "apres demain": 2, "apresdemain": 2, "day after tomorrow": 2,
    "demain": 1, "tomorrow": 1,
}  # fmt: skip

PARTS_OF_DAY: dict[str, tuple[time, bool]] = {
    "matin": (time(9, 0), False), "morning": (time(9, 0), False),
    "apres-midi": (time(14, 0), True), "apres midi": (time(14, 0), True),
    "aprem": (time(14, 0), True), "afternoon": (time(14, 0), True),
    "soir": (time(20, 0), True), "soiree": (time(20, 0), True), "evening": (time(20, 0), True),
}  # fmt: skip

NAMED_TIMES: dict[str, time] = {
    "midi": time(12, 0), "noon": time(12, 0), "minuit": time(0, 0), "midnight": time(0, 0),
}  # fmt: skip

# Words that may surround the date without changing it ("avant le 30 juin", "on friday at 5pm").
FILLERS = frozenset(
    (
        "a", "au", "at", "le", "l'", "on", "the", "of", "de", "du", "by", "avant", "pour",
        "before", "until", "jusqu'au", "jusqu'a", "d'ici",
    )
)  # fmt: skip


def _alternation(words: Iterable[str]) -> str:
    """A regex alternative of ``words``, longest first so "mars" wins over "mar"."""
    ordered = sorted(words, key=len, reverse=True)
    return "|".join(re.escape(word).replace(r"\ ", r"\s+") for word in ordered)


_MONTH = _alternation(MONTHS)
_WEEKDAY = _alternation(WEEKDAYS)
_UNIT = _alternation(DURATION_UNITS)
_NUMBER_WORD = _alternation(NUMBER_WORDS)
_ORDINAL = r"(?:er|eme|e|st|nd|rd|th)?"


# --- Normalisation ----------------------------------------------------------------------------

_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "\u00a0": " ", "\u202f": " "})


def fold(text: str) -> str:
    """Lower-case and strip accents, so "Après-Demain" and "apres-demain" read the same."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def normalise(text: str) -> str:
    """Fold the phrase and tidy the spellings that would otherwise need extra rules."""
    text = fold(text)
    text = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", text, flags=_FLAGS)  # p.m. -> pm
    text = re.sub(r"(\d)t(\d)", r"\1 \2", text, flags=_FLAGS)  # ISO 2027-06-30T23:59
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(".!?;, ")


# --- Durations (shared with reminder offsets) ------------------------------------------------

# One amount and unit ("3 jours", "une heure", "30min"), or the compact "1h30". A number
# word needs a space before its unit, so "and" is never read as "an d" (one day).
TERM = re.compile(
    rf"(?P<sign>[+-])?(?:(?P<hours>\d{{1,4}})h(?P<minutes>\d{{2}})"
    rf"|(?:(?P<amount>\d{{1,6}})\s*|(?P<word>{_NUMBER_WORD})\s+)(?P<unit>{_UNIT})"
    rf"|(?P<half>(?:une\s+)?demi[- ]?heure|half\s+an\s+hour|half\s+hour)"
    rf"|(?P<quarter>(?:un\s+)?quart\s+d'heure|(?:a\s+)?quarter\s+of\s+an\s+hour))\b",
    _FLAGS,
)


# The same term without group names, to repeat it inside a larger pattern.
_TERM_UNNAMED = re.sub(r"\(\?P<\w+>", "(?:", TERM.pattern)


@dataclass(frozen=True)
class Duration:
    """A written duration split as typed: calendar days (weeks included) and minutes.

    Days stay apart from minutes because "dans 3 jours" keeps the wall-clock time across a
    DST change while "dans 72 heures" is 72 real hours.
    """

    days: int = 0
    minutes: int = 0

    def __add__(self, other: Duration) -> Duration:
        return Duration(self.days + other.days, self.minutes + other.minutes)

    def as_timedelta(self) -> timedelta:
        return timedelta(days=self.days, minutes=self.minutes)


def term_duration(match: re.Match[str]) -> Duration:
    """The (signed) duration of one TERM match."""
    sign = -1 if match["sign"] == "-" else 1
    if match["hours"] is not None:
        return Duration(0, sign * (int(match["hours"]) * 60 + int(match["minutes"])))
    if match["half"] is not None:
        return Duration(0, sign * 30)
    if match["quarter"] is not None:
        return Duration(0, sign * 15)
    amount = int(match["amount"]) if match["amount"] else NUMBER_WORDS[match["word"]]
    per_unit = DURATION_UNITS[match["unit"]]
    if per_unit % (24 * 60) == 0:
        return Duration(sign * amount * per_unit // (24 * 60), 0)
    return Duration(0, sign * amount * per_unit)


# --- Rules --------------------------------------------------------------------------------------

Handler = Callable[[re.Match[str], Phrase], None]

# Terms follow each other with a joiner ("1 jour et 2 heures") or a space ("2h 30min"), except
# that a clock time after a space ends the duration: "dans 3 jours 14h" is "in 3 days, at
# 14:00", not "in 3 days and 14 hours".
_TERM_JOINER = r"(?:\s*(?:,|\bet\b|\band\b)\s*|\s+(?!\d{1,2}\s*h\b|\d{1,2}h\d{2}\b))"
_JOINED_TERMS = rf"{_TERM_UNNAMED}(?:{_TERM_JOINER}{_TERM_UNNAMED})*"


def _relative(match: re.Match[str], phrase: Phrase) -> None:
    """A delay from now: "dans 3 jours", "in 2 hours", "dans 1 jour et 2 heures"."""
    total = Duration()
    for term in TERM.finditer(match["terms"]):
        total = total + term_duration(term)
    if total.days:
        phrase.set("days_ahead", total.days)
    if total.minutes or not total.days:
        # "dans 0 minutes" lands here too: it resolves to now, which is then refused as past.
        phrase.set("exact", timedelta(minutes=total.minutes))


def _calendar(day: str, month: int, year: str | None) -> CalendarDate:
    """Check the day and month ranges that never depend on the year."""
    if not 1 <= month <= 12:
        raise GrammarError("invalid_month", month=month)
    full_year = None if year is None else int(year) + (2000 if len(year) == 2 else 0)
    max_day = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    if not 1 <= int(day) <= max_day:
        raise GrammarError("invalid_day", day=int(day), month=month)
    return CalendarDate(int(day), month, full_year)


def _numeric_date(match: re.Match[str], phrase: Phrase) -> None:
    """A numeric date ("2027-06-30", "30/06"); each rule names its groups, so sets the order."""
    phrase.set("calendar", _calendar(match["day"], int(match["month"]), match["year"]))


def _named_month_date(match: re.Match[str], phrase: Phrase) -> None:
    month = MONTHS[match["month"]]
    phrase.set("calendar", _calendar(match["day"], month, match["year"]))


def _day_word(match: re.Match[str], phrase: Phrase) -> None:
    phrase.set("day_shift", DAY_WORDS[re.sub(r"\s+", " ", match[0])])


def _this_part_of_day(match: re.Match[str], phrase: Phrase) -> None:
    """Today, at a part of the day: "ce soir", "cet après-midi", "ce midi", "tonight"."""
    phrase.set("day_shift", 0)
    word = "soir" if match["tonight"] else re.sub(r"\s+", " ", match["part"])
    if word in NAMED_TIMES:
        phrase.set("clock", ClockTime(NAMED_TIMES[word]))
    else:
        _set_part_of_day(word, phrase)


def _part_of_day(match: re.Match[str], phrase: Phrase) -> None:
    _set_part_of_day(re.sub(r"\s+", " ", match[0]), phrase)


def _set_part_of_day(word: str, phrase: Phrase) -> None:
    default, evening = PARTS_OF_DAY[word]
    phrase.set("part_of_day", default)
    phrase.evening = evening


def _weekday(match: re.Match[str], phrase: Phrase) -> None:
    phrase.set("weekday", WEEKDAYS[match["weekday"]])
    phrase.weekday_next = bool(match["before"] or match["after"])


def _named_time(match: re.Match[str], phrase: Phrase) -> None:
    phrase.set("clock", ClockTime(NAMED_TIMES[match[0]]))


def _clock(hour: int, minute: int, second: int, meridiem: str | None, raw: str) -> ClockTime:
    """A validated time; 12am is midnight and 12pm is noon."""
    if meridiem is not None:
        if not 1 <= hour <= 12:
            raise GrammarError("invalid_time", time=raw)
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise GrammarError("invalid_time", time=raw)
    return ClockTime(time(hour, minute, second), meridiem is not None)


def _colon_time(match: re.Match[str], phrase: Phrase) -> None:
    """A time with a colon: "9:30", "23:59:00", "5:30 pm"."""
    second = int(match["second"] or 0)
    clock = _clock(int(match["hour"]), int(match["minute"]), second, match["meridiem"], match[0])
    phrase.set("clock", clock)


def _h_time(match: re.Match[str], phrase: Phrase) -> None:
    """A French time: "9h30", "14h", "14 h 30", "14 heures"."""
    clock = _clock(int(match["hour"]), int(match["minute"] or 0), 0, None, match[0].strip())
    phrase.set("clock", clock)


def _meridiem_time(match: re.Match[str], phrase: Phrase) -> None:
    """An English hour: "5pm", "12am"."""
    phrase.set("clock", _clock(int(match["hour"]), 0, 0, match["meridiem"], match[0]))


# Order matters: longer or more specific forms first, so a later rule never sees part of an
# earlier one ("après-demain" before "demain", "après-midi" before "midi", dates before times).
RULES: tuple[tuple[re.Pattern[str], Handler], ...] = tuple(
    (re.compile(pattern, _FLAGS), handler)
    for pattern, handler in (
        (rf"\b(?:dans|d'ici|in|within)\s+(?P<terms>{_JOINED_TERMS})", _relative),
        (
            r"\b(?P<year>\d{4})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})\b",
            _numeric_date,
        ),
        (
            r"\b(?P<day>\d{1,2})(?P<sep>[/.-])(?P<month>\d{1,2})"
            r"(?:(?P=sep)(?P<year>\d{4}|\d{2}))?\b",
            _numeric_date,  # always day/month (French order), never month/day
        ),
        (
            rf"\b(?P<day>\d{{1,2}}){_ORDINAL}\s*(?:(?:de|of)\s+)?(?P<month>{_MONTH})\b\.?"
            r"(?:\s*,?\s*(?P<year>\d{4})\b)?",
            _named_month_date,
        ),
        (
            rf"\b(?P<month>{_MONTH})\b\.?\s*(?P<day>\d{{1,2}}){_ORDINAL}\b"
            r"(?:\s*,?\s*(?P<year>\d{4})\b)?",
            _named_month_date,
        ),
        (
            r"\b(?:(?:ce|cet|this)\s+(?P<part>soir|soiree|matin|apres[- ]?midi|midi|evening"
            r"|morning|afternoon)|(?P<tonight>tonight|tonite))\b",
            _this_part_of_day,
        ),
        (rf"(?<![\w'-])(?:{_alternation(DAY_WORDS)})(?![\w'-])", _day_word),
        (rf"\b(?:{_alternation(PARTS_OF_DAY)})\b", _part_of_day),
        (
            rf"\b(?:(?P<before>prochain|next)\s+|(?:ce|this)\s+)?(?P<weekday>{_WEEKDAY})\b"
            r"(?:\s+(?P<after>prochain|next))?",
            _weekday,
        ),
        (rf"\b(?:{_alternation(NAMED_TIMES)})\b", _named_time),
        (
            r"\b(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
            r"(?:\s*(?P<meridiem>am|pm))?\b",
            _colon_time,
        ),
        (r"\b(?P<hour>\d{1,2})\s*h(?:eures?)?(?:\s*(?P<minute>\d{2}))?\b", _h_time),
        (r"\b(?P<hour>\d{1,2})\s*(?P<meridiem>am|pm)\b", _meridiem_time),
    )
)


def parse_phrase(text: str) -> Phrase | None:
    """Recognise a normalised phrase, or return None when some words are not date words.

    Raises GrammarError when the phrase is a date form with impossible values or two dates.
    """
    phrase = Phrase()
    rest = text
    for pattern, handler in RULES:
        while (match := pattern.search(rest)) is not None:
            handler(match, phrase)  # a second match of a rule raises a conflict
            rest = rest[: match.start()] + " " + rest[match.end() :]
    leftover = [word for word in re.split(r"[\s,;]+", rest) if word]
    if any(word not in FILLERS for word in leftover) or phrase == Phrase():
        return None  # unknown words, or only fillers ("le")
    return phrase


def parse_duration_list(text: str) -> list[tuple[str, Duration]] | None:
    """Split "7j, 1j 2h" into its written terms and their durations; None if any is unknown.

    Only commas, semicolons and spaces separate terms: "1 heure et 30 minutes" could mean one
    reminder or two, so it is not guessed.
    """
    terms: list[tuple[str, Duration]] = []
    for chunk in re.split(r"[,;]", text):
        position = 0
        chunk = chunk.strip()
        while position < len(chunk):
            match = TERM.match(chunk, position)
            if match is None:
                return None
            terms.append((match[0], term_duration(match)))
            position = match.end()
            while position < len(chunk) and chunk[position].isspace():
                position += 1
    return terms
