"""Dates and durations as people type them in chat, and as the bot writes them back.

``parse_when`` reads French and English phrases ("mardi prochain 14h", "June 30 11:59pm",
"dans 2 heures") relative to the current moment in the room's timezone; ``parse_offsets``
reads reminder offsets ("7j, 1j, 1h"). Both raise ``DateError`` carrying an untranslated
``Message`` that says what was wrong and shows an example, so handlers can reply in the room's
language. The token rules live in ``bot.text.date_grammar``; this module gives them a meaning.

Choices worth knowing (each one is tested):

- A bare weekday that is today ("lundi" on a Monday) means today only when a time is given
  and that time is still to come ("lundi 18h" at 10:00); otherwise it is next week's.
  "lundi prochain" / "next monday" is always strictly after today.
- A date without a year is the next such date: this year if the day is today or later, else
  next year. A day that is today with a time already gone is refused as past (not moved a
  year ahead), because the writer almost certainly meant today.
- A time without a date is today if still to come, else tomorrow.
- "minuit" / "midnight" is 00:00 at the start of the given day ("demain minuit" is the night
  from today to tomorrow); the confirmation shows the exact date, so a writer can correct it.
- Local times that do not exist (spring-forward gap, 02:30 on 2027-03-28 in Paris) are moved
  forward by the length of the gap (03:30), like the clocks; repeated times in the autumn
  (02:30 on 2026-10-25) take the first occurrence (summer time).
- "dans 3 jours" keeps the wall-clock time across a DST change; "dans 2 heures" is 2 real hours.
- Dates more than ten years ahead are refused (no process plans that far; it also keeps
  arithmetic far from datetime's limits).
- Both languages are always understood; ``language`` only chooses the words used inside error
  parameters (dates, weekday names) and the order languages are tried by the fallback parser.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import dateparser
from babel import Locale, UnknownLocaleError
from babel.dates import get_day_names, get_month_names
from babel.lists import format_list
from babel.units import format_unit

from bot.text.date_grammar import GrammarError, Phrase, normalise, parse_duration_list, parse_phrase
from bot.text.errors import UserError
from bot.text.i18n import N_, Message, Translations, Translator

MAX_AHEAD = timedelta(days=3653)  # ten years
MAX_OFFSET = timedelta(days=365)
MAX_TEXT_LENGTH = 200  # longer input is not a date; also bounds the work done on it
DEFAULT_TIME = time(9, 0)

MSG_EMPTY = N_("No date given. Write for example: tomorrow 6pm, June 30 11:59pm or in 2 hours.")
MSG_NOT_UNDERSTOOD = N_(
    "I did not understand the date “{text}”. Write for example: tomorrow 6pm, "
    "June 30 11:59pm or in 2 hours."
)
MSG_PAST = N_("“{text}” is in the past ({when}). Give a date to come, for example: tomorrow 6pm.")
MSG_INVALID_DAY = N_(
    "“{text}” is not a valid date: there is no {day} {month}. Write for example: June 30 or 30/06."
)
MSG_INVALID_MONTH = N_(
    "“{text}” is not a valid date: there is no month {month}. Numeric dates are day/month, "
    "for example 30/06 for June 30."
)
MSG_INVALID_TIME = N_(
    "“{text}” is not a valid time: {time} does not exist. Times go from 00:00 to 23:59, "
    "for example 9:30am or 6pm."
)
MSG_WEEKDAY_MISMATCH = N_(
    "“{text}” is ambiguous: {date} is a {weekday}, not a {given}. Write only the date, "
    "for example: June 30."
)
MSG_CONFLICT = N_(
    "“{text}” is ambiguous: it gives more than one date or time. Write one date, "
    "for example: tomorrow 6pm."
)
MSG_TOO_FAR = N_(
    "“{text}” is too far ahead: dates must be within the next ten years. "
    "Write for example: June 30 2027."
)

MSG_OFFSETS_EMPTY = N_("No reminder given. Write for example: 7d, 1d, 1h.")
MSG_OFFSET_NOT_UNDERSTOOD = N_(
    "I did not understand the reminder “{text}”. Write a number and a unit, "
    "for example: 7d, 1d, 2h, 30m."
)
MSG_OFFSET_NOT_POSITIVE = N_(
    "The reminder “{text}” must be a delay greater than zero before the date, for example 1d or 2h."
)
MSG_OFFSET_DUPLICATE = N_(
    "The reminder “{text}” is the same delay as “{other}”. Write each reminder once, "
    "for example: 7d, 1d, 1h."
)
MSG_OFFSET_TOO_LARGE = N_("The reminder “{text}” is too long: reminders go up to 365 days (365d).")

MSG_WHEN = N_("{date} at {time} ({timezone})")
MSG_LESS_THAN_A_MINUTE = N_("less than a minute")


class DateError(UserError):
    """A date or offset that cannot be used; ``message`` is the reply to give, untranslated."""


def _error(msgid: str, **params: Any) -> DateError:
    return DateError(Message(msgid, params))


# --- Parsing dates -----------------------------------------------------------------------------


def parse_when(
    text: str,
    *,
    now: datetime,
    tz: ZoneInfo,
    language: str = "fr",
    default_time: time = DEFAULT_TIME,
) -> datetime:
    """Parse a French or English date/time phrase relative to ``now`` in room timezone ``tz``.

    Returns an aware datetime in UTC, strictly after ``now``. A date given without a time gets
    ``default_time``. Raises DateError for empty, unknown, invalid, ambiguous, past or too
    distant dates.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    quoted = " ".join(text.split())
    if not quoted:
        raise _error(MSG_EMPTY)
    if len(quoted) > MAX_TEXT_LENGTH:
        raise _error(MSG_NOT_UNDERSTOOD, text=quoted[:40] + "…")
    normalised = normalise(quoted)
    try:
        phrase = parse_phrase(normalised)
    except GrammarError as error:
        raise _grammar_error(error, quoted, language) from None
    if phrase is None:
        moment = _fallback(normalised, now=now, tz=tz, language=language)
        if moment is None:
            raise _error(MSG_NOT_UNDERSTOOD, text=quoted)
    else:
        moment = _resolve(phrase, quoted, now=now, tz=tz, language=language, default=default_time)
    if moment - now > MAX_AHEAD:
        raise _error(MSG_TOO_FAR, text=quoted)
    if moment <= now:
        raise _error(MSG_PAST, text=quoted, when=format_when(moment, tz=tz, language=language))
    return moment


def _grammar_error(error: GrammarError, quoted: str, language: str) -> DateError:
    """Word a grammar error; month numbers become month names in the room's language."""
    details = error.details
    if error.kind == "invalid_day":
        month = _month_names(language)[int(details["month"])]
        return _error(MSG_INVALID_DAY, text=quoted, day=details["day"], month=month)
    if error.kind == "invalid_month":
        return _error(MSG_INVALID_MONTH, text=quoted, month=details["month"])
    if error.kind == "invalid_time":
        return _error(MSG_INVALID_TIME, text=quoted, time=details["time"])
    return _error(MSG_CONFLICT, text=quoted)


def _resolve(
    phrase: Phrase, quoted: str, *, now: datetime, tz: ZoneInfo, language: str, default: time
) -> datetime:
    """Give the recognised parts a moment: pick the day, then the time, then go to UTC."""
    local_now = now.astimezone(tz)
    _check_combination(phrase, quoted)
    if phrase.exact is not None:
        return _resolve_relative(phrase, quoted, now=now, tz=tz)
    day = _resolve_day(phrase, quoted, today=local_now.date(), language=language)
    clock = _resolve_time(phrase, local_now=local_now, default=default)
    if day is None:
        # A time alone: today if it is still to come, otherwise tomorrow.
        day = local_now.date()
        if _to_utc(day, clock, tz) <= now:
            day += timedelta(days=1)
    elif phrase.weekday is not None and _is_bare_weekday_today(phrase, local_now):
        # "lundi" on a Monday: today only if a time was given and is still to come.
        has_time = phrase.clock is not None or phrase.part_of_day is not None
        if not has_time or _to_utc(day, clock, tz) <= now:
            day += timedelta(days=7)
    return _to_utc(day, clock, tz)


def _check_combination(phrase: Phrase, quoted: str) -> None:
    """Refuse parts that cannot go together ("demain 11 mai", "dans 2 heures à 14h")."""
    named_days = [phrase.day_shift, phrase.calendar, phrase.days_ahead]
    if sum(part is not None for part in named_days) > 1:
        raise _error(MSG_CONFLICT, text=quoted)
    if phrase.days_ahead is not None and phrase.weekday is not None:
        raise _error(MSG_CONFLICT, text=quoted)
    # Real hours and minutes from now leave no room for another day or time.
    others = [phrase.day_shift, phrase.calendar, phrase.weekday, phrase.clock, phrase.part_of_day]
    if phrase.exact is not None and any(part is not None for part in others):
        raise _error(MSG_CONFLICT, text=quoted)


def _resolve_relative(phrase: Phrase, quoted: str, *, now: datetime, tz: ZoneInfo) -> datetime:
    """A delay from now ("dans 1 jour et 2 heures"): days on the wall clock, then real minutes."""
    assert phrase.exact is not None
    days = phrase.days_ahead or 0
    if abs(phrase.exact) + timedelta(days=abs(days)) > MAX_AHEAD:
        raise _error(MSG_TOO_FAR, text=quoted)
    local_now = now.astimezone(tz)
    start = _to_utc(local_now.date() + timedelta(days=days), local_now.time(), tz) if days else now
    return start.astimezone(UTC) + phrase.exact


def _resolve_day(phrase: Phrase, quoted: str, *, today: date, language: str) -> date | None:
    """The calendar day the phrase names, or None when it names only a time."""
    day: date | None = None
    if phrase.days_ahead is not None:
        if abs(phrase.days_ahead) > MAX_AHEAD.days:
            raise _error(MSG_TOO_FAR, text=quoted)
        day = today + timedelta(days=phrase.days_ahead)
    elif phrase.day_shift is not None:
        day = today + timedelta(days=phrase.day_shift)
    elif phrase.calendar is not None:
        day = _calendar_day(phrase, quoted, today=today, language=language)
    if phrase.weekday is None:
        return day
    if day is None:
        return _next_weekday(today, phrase.weekday, strictly_after=phrase.weekday_next)
    if day.weekday() != phrase.weekday:
        raise _error(
            MSG_WEEKDAY_MISMATCH,
            text=quoted,
            date=_format_date(day, language),
            weekday=_day_names(language)[day.weekday()],
            given=_day_names(language)[phrase.weekday],
        )
    return day


def _calendar_day(phrase: Phrase, quoted: str, *, today: date, language: str) -> date:
    """The day of a written date; without a year, the next such day (today included)."""
    assert phrase.calendar is not None
    day, month, year = phrase.calendar.day, phrase.calendar.month, phrase.calendar.year
    if year is not None:
        if year > today.year + MAX_AHEAD.days // 365:
            raise _error(MSG_TOO_FAR, text=quoted)
        try:
            return date(year, month, day)
        except ValueError:  # 29/02 of a common year, 31/04…
            month_name = f"{_month_names(language)[month]} {year}"
            raise _error(MSG_INVALID_DAY, text=quoted, day=day, month=month_name) from None
    # 29 February waits for the next leap year; the grammar already refused 30 February.
    for candidate_year in range(today.year, today.year + 9):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise _error(MSG_TOO_FAR, text=quoted)  # unreachable with a valid day and month


def _resolve_time(phrase: Phrase, *, local_now: datetime, default: time) -> time:
    """The time of day: as written, else the part of the day, else the default."""
    if phrase.clock is not None:
        clock = phrase.clock.value
        # "ce soir 9h" is 21:00: in the evening, a small hour without am/pm is pm.
        if phrase.evening and not phrase.clock.meridiem and 1 <= clock.hour <= 11:
            clock = clock.replace(hour=clock.hour + 12)
        return clock
    if phrase.part_of_day is not None:
        return phrase.part_of_day
    if phrase.days_ahead is not None:
        return local_now.time().replace(tzinfo=None)  # "dans 3 jours": same time of day
    return default


def _is_bare_weekday_today(phrase: Phrase, local_now: datetime) -> bool:
    only_weekday = phrase.day_shift is None and phrase.calendar is None
    return only_weekday and not phrase.weekday_next and phrase.weekday == local_now.weekday()


def _next_weekday(today: date, weekday: int, *, strictly_after: bool) -> date:
    """The next ``weekday`` from today: today itself unless ``strictly_after``."""
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and strictly_after:
        ahead = 7
    return today + timedelta(days=ahead)


def _to_utc(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """Local wall time in ``tz`` to UTC.

    fold=0 gives the first of two repeated autumn times, and moves a time inside the spring
    gap forward by the gap's length (zoneinfo reads it with the offset in force before).
    """
    local = datetime.combine(day, clock.replace(tzinfo=None)).replace(tzinfo=tz, fold=0)
    return local.astimezone(UTC)


def _fallback(normalised: str, *, now: datetime, tz: ZoneInfo, language: str) -> datetime | None:
    """Last resort for forms our grammar lacks ("dans 1 mois"), kept only when unambiguous.

    The phrase must name at least a day and a month (dateparser otherwise reads a bare "25"
    or "a" as a date) and must give the same moment whether past or future dates are
    preferred; otherwise it is treated as not understood.
    """
    languages = ["fr", "en"] if language != "en" else ["en", "fr"]
    results: list[datetime] = []
    for preference in ("future", "past"):
        settings = {
            "TIMEZONE": tz.key,
            "TO_TIMEZONE": "UTC",
            "RETURN_AS_TIMEZONE_AWARE": True,
            "RELATIVE_BASE": now.astimezone(tz).replace(tzinfo=None),
            "DATE_ORDER": "DMY",
            "PREFER_DATES_FROM": preference,
            "REQUIRE_PARTS": ["day", "month"],
        }
        try:
            result = dateparser.parse(normalised, languages=languages, settings=settings)
        except Exception:  # dateparser may fail in many ways on odd text; all mean "unknown"
            return None
        if result is None or result.tzinfo is None:
            return None
        results.append(result.astimezone(UTC))
    if results[0] != results[1] or results[0] <= now or results[0] - now > MAX_AHEAD:
        return None
    return results[0]


# --- Parsing offsets ---------------------------------------------------------------------------


def parse_offsets(text: str) -> list[timedelta]:
    """Read reminder offsets: "7j, 1j, 1h", "30min", "7d 1d 2h 30m", "1 semaine".

    Returns them sorted from the largest to the smallest. Each must be over zero and at most
    365 days; the same delay twice ("1j, 24h") is refused rather than silently dropped, since
    it usually hides a typo.
    """
    quoted = " ".join(text.split())
    if not quoted.strip(" ,;"):
        raise _error(MSG_OFFSETS_EMPTY)
    if len(quoted) > MAX_TEXT_LENGTH:
        raise _error(MSG_OFFSET_NOT_UNDERSTOOD, text=quoted[:40] + "…")
    terms = parse_duration_list(normalise(quoted))
    if not terms:  # unknown words, or only characters that normalise away
        raise _error(MSG_OFFSET_NOT_UNDERSTOOD, text=quoted)
    seen: dict[timedelta, str] = {}
    for written, duration in terms:
        if duration.days > MAX_OFFSET.days or duration.minutes > MAX_OFFSET.days * 24 * 60:
            raise _error(MSG_OFFSET_TOO_LARGE, text=written)
        offset = duration.as_timedelta()
        if offset <= timedelta(0):
            raise _error(MSG_OFFSET_NOT_POSITIVE, text=written)
        if offset > MAX_OFFSET:
            raise _error(MSG_OFFSET_TOO_LARGE, text=written)
        if offset in seen:
            raise _error(MSG_OFFSET_DUPLICATE, text=written, other=seen[offset])
        seen[offset] = written
    return sorted(seen, reverse=True)


# --- Formatting --------------------------------------------------------------------------------

# Compact units as people type them; parse_offsets reads them back.
_OFFSET_UNITS = {
    "fr": (("j", 24 * 60), ("h", 60), ("min", 1)),
    "en": (("d", 24 * 60), ("h", 60), ("m", 1)),
}


def format_when(moment: datetime, *, tz: ZoneInfo, language: str) -> str:
    """A moment in full words, in the room's language and timezone.

    fr « mardi 11 mai 2027 à 09:30 (Europe/Paris) »,
    en « Tuesday 11 May 2027 at 09:30 (Europe/Paris) ».
    """
    local = moment.astimezone(tz)
    weekday = _day_names(language)[local.weekday()]
    return _translator(language).render(
        MSG_WHEN,
        date=f"{weekday} {_format_date(local.date(), language)}",
        time=local.strftime("%H:%M"),
        timezone=tz.key,
    )


def format_duration(delta: timedelta, *, language: str) -> str:
    """A countdown in words: « 3 jours et 2 heures », « 45 minutes », « 1 jour ».

    Only the largest unit and the one just below it are shown (a countdown needs no more), and
    the second only when it is not zero; seconds are dropped. Under a minute (or a delay already
    over) reads « moins d'une minute ».
    """
    total_minutes = int(delta.total_seconds() // 60)
    if total_minutes < 1:
        return _translator(language).gettext(MSG_LESS_THAN_A_MINUTE)
    days, rest = divmod(total_minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    amounts = [(days, "duration-day"), (hours, "duration-hour"), (minutes, "duration-minute")]
    first = next(index for index, (amount, _unit) in enumerate(amounts) if amount)
    shown = [(amount, unit) for amount, unit in amounts[first : first + 2] if amount]
    locale = _locale(language)
    # Plain spaces: CLDR puts no-break spaces here, which surprise people searching or quoting.
    words = [
        format_unit(amount, unit, length="long", locale=locale).replace("\xa0", " ")
        for amount, unit in shown
    ]
    return format_list(words, locale=locale).replace("\xa0", " ")


def format_offset(delta: timedelta, *, language: str) -> str:
    """A reminder offset as typed: fr '7j', '1h', '30min'; en '7d', '1h', '30m'.

    Uses the largest unit that divides it exactly (36 hours is '36h'), so the text reads back
    to the same offset with parse_offsets. Seconds are dropped.
    """
    total_minutes = int(delta.total_seconds() // 60)
    units = _OFFSET_UNITS.get(language, _OFFSET_UNITS["en"])
    for suffix, size in units:
        if total_minutes and total_minutes % size == 0:
            return f"{total_minutes // size}{suffix}"
    return f"{total_minutes}{units[-1][0]}"


def format_day(day: date, *, language: str) -> str:
    """A day in full words: « mardi 8 décembre 2026 » / « Tuesday 8 December 2026 »."""
    return f"{_day_names(language)[day.weekday()]} {_format_date(day, language)}"


def local_to_utc(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """A wall time of the room's clock in UTC, with the same daylight-saving rules as parsing."""
    return _to_utc(day, clock, tz)


def _format_date(day: date, language: str) -> str:
    """« 11 mai 2027 » / « 11 May 2027 »; French writes the first of the month « 1er »."""
    number = "1er" if day.day == 1 and language == "fr" else str(day.day)
    return f"{number} {_month_names(language)[day.month]} {day.year}"


@cache
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def _day_names(language: str) -> dict[int, str]:
    return dict(get_day_names("wide", context="format", locale=_locale(language)))


def _month_names(language: str) -> dict[int, str]:
    return dict(get_month_names("wide", context="format", locale=_locale(language)))


@cache
def _translations() -> Translations:
    """The catalogues, loaded once on first use (formatting needs a few words)."""
    return Translations()


def _translator(language: str) -> Translator:
    return _translations().for_language(language)
