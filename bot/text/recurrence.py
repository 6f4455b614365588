"""Repetition rules as people write them, and the occurrences they give on the room's clock.

``parse_rule`` reads French and English phrases (« tous les mardis à 18h », « tous les lundis
et jeudis à 18h », « un mardi sur deux à 18h », « le premier jeudi du mois à 14h », « le 15 de
chaque mois à 9h », « tous les jours ouvrés à 9h », ``every other Tuesday at 6pm``, ``first
Thursday of the month at 2pm``…, and their other wordings: « toutes les semaines le mardi »,
« tous les mois le 15 », ``weekly on Tuesday``, ``every month on the 15th``…),
each optionally bounded by « à partir du <date> », « jusqu'au <date> » or « <N> fois »
(``from``, ``until``, ``<N> times``). It returns a ``Series``: the ``Rule`` and the first
occurrence. ``occurrences`` expands a rule with python-dateutil's rrule.

Choices worth knowing (each one is tested):

- Occurrences keep their wall-clock time across daylight-saving changes: « tous les mardis à
  18h » is 18:00 in Paris in winter and in summer (17:00 then 16:00 UTC). A time inside the
  spring gap moves forward by the gap, a repeated autumn time takes its first occurrence, as
  for one-off dates (``bot.text.dates``).
- The rule is stored as an iCalendar RRULE (``FREQ=WEEKLY;BYDAY=TU;BYHOUR=18;BYMINUTE=0``):
  the wall time is in the rule, so the first occurrence (the rule's DTSTART) is only a date.
  ``UNTIL`` is the end of the last day on the room's clock, inclusive.
- A day of the month that not every month has (29, 30, 31) is refused with an example rather
  than silently skipping months; « le dernier jour du mois » says what was meant.
- The first occurrence is the first one strictly after now (and on or after « à partir du »);
  ``<N> fois`` counts from it; « un mardi sur deux » alternates from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from bot.text.date_grammar import WEEKDAYS, GrammarError, normalise, parse_phrase
from bot.text.dates import (
    MAX_AHEAD,
    DateError,
    format_day,
    local_to_utc,
    parse_when,
)
from bot.text.i18n import N_, Message, Translations, Translator

MAX_COUNT = 500
RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
PATTERNS = ("daily", "weekly", "weekdays", "monthly_day", "monthly_weekday")

MSG_NOT_UNDERSTOOD = N_(
    "I did not understand the repetition “{text}”. Write for example: every Tuesday at 6pm, "
    "every other Tuesday at 6pm, first Thursday of the month at 2pm, on the 15th of every "
    "month at 9am or every weekday at 9am."
)
MSG_NO_TIME = N_(
    "Say at what time “{text}” happens, for example: every Tuesday at 6pm or tous les mardis à 18h."
)
MSG_MONTH_END = N_(
    "“{text}” is ambiguous: not every month has a day {day}, so some months would have no "
    "meeting. Choose a day from 1 to 28, or write for example: the last day of the month at 6pm."
)
MSG_UNTIL_BEFORE_START = N_(
    "“{text}” ends before it starts: the first meeting would be {start}, after {until}. "
    "Write for example: every Tuesday at 6pm until June 30."
)
MSG_UNTIL_AND_COUNT = N_(
    "“{text}” gives both an end date and a number of times. Give one of them, for example: "
    "every Tuesday at 6pm until June 30, or every Tuesday at 6pm 10 times."
)
MSG_BAD_COUNT = N_(
    "“{text}”: the number of times must be between 1 and {limit}, for example: "
    "every Tuesday at 6pm 10 times."
)
MSG_NO_OCCURRENCE = N_(
    "“{text}” gives no meeting within the next ten years. Write for example: every Tuesday at 6pm."
)

# The words of a rule, for the confirmation and the agenda.
MSG_EVERY_DAY = N_("every day at {time}")
MSG_EVERY_WEEKDAY = N_("every weekday at {time}")
MSG_WEEKLY = N_("every {weekday} at {time}")
MSG_WEEKLY_DAYS = N_("every {weekdays} at {time}")
MSG_AND = N_("{first} and {last}")
MSG_WEEKLY_OTHER = N_("every other {weekday} at {time}")
MSG_EVERY_N_WEEKS = N_("every {interval} weeks on {weekday} at {time}")
MSG_MONTHLY_WEEKDAY = N_("the {ordinal} {weekday} of the month at {time}")
MSG_MONTHLY_DAY = N_("on the {day} of every month at {time}")
MSG_MONTHLY_LAST_DAY = N_("on the last day of every month at {time}")
MSG_FROM = N_("from {date}")
MSG_UNTIL = N_("until {date}")
MSG_TIMES = N_("{count} times")
ORDINAL_WORDS = {
    1: N_("first"),
    2: N_("second"),
    3: N_("third"),
    4: N_("fourth"),
    -1: N_("last"),
}


@dataclass(frozen=True)
class Rule:
    """A repetition: which days, at what wall time, and how it ends (``until`` or ``count``)."""

    pattern: str  # one of PATTERNS
    clock: time
    interval: int = 1
    weekday: int | None = None  # 0 = Monday; weekly and monthly_weekday
    more_days: tuple[int, ...] = ()  # weekly: its other days (« les lundis et jeudis »)
    ordinal: int | None = None  # 1..4, or -1 for the last; monthly_weekday
    monthday: int | None = None  # 1..28, or -1 for the last day; monthly_day
    until: date | None = None  # last day, inclusive, on the room's clock
    count: int | None = None

    def rrule_text(self) -> str:
        """The iCalendar RRULE value, with the wall time in BYHOUR/BYMINUTE."""
        parts = [f"FREQ={_FREQ[self.pattern]}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.pattern == "weekly" and self.weekday is not None:
            days = (self.weekday, *self.more_days)
            parts.append("BYDAY=" + ",".join(RRULE_DAYS[day] for day in days))
        elif self.pattern == "weekdays":
            parts.append(f"BYDAY={_WORKING_DAYS}")
        elif self.pattern == "monthly_weekday" and self.weekday is not None:
            parts.append(f"BYDAY={self.ordinal}{RRULE_DAYS[self.weekday]}")
        elif self.pattern == "monthly_day":
            parts.append(f"BYMONTHDAY={self.monthday}")
        parts.append(f"BYHOUR={self.clock.hour};BYMINUTE={self.clock.minute}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until:%Y%m%d}T235959")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        return ";".join(parts)

    @classmethod
    def from_rrule_text(cls, text: str) -> Rule:
        """Read back what ``rrule_text`` wrote (stored rules only; not any RRULE)."""
        fields = dict(part.split("=", 1) for part in text.split(";"))
        clock = time(int(fields["BYHOUR"]), int(fields["BYMINUTE"]))
        interval = int(fields.get("INTERVAL", "1"))
        until = None
        if "UNTIL" in fields:
            until = datetime.strptime(fields["UNTIL"][:8], "%Y%m%d").date()
        count = int(fields["COUNT"]) if "COUNT" in fields else None
        byday = fields.get("BYDAY", "")
        if fields["FREQ"] == "DAILY":
            rule = cls("daily", clock)
        elif fields["FREQ"] == "WEEKLY" and byday == _WORKING_DAYS and interval == 1:
            rule = cls("weekdays", clock)
        elif fields["FREQ"] == "WEEKLY":
            first, *more = (RRULE_DAYS.index(day) for day in byday.split(","))
            rule = cls("weekly", clock, weekday=first, more_days=tuple(more))
        elif "BYMONTHDAY" in fields:
            rule = cls("monthly_day", clock, monthday=int(fields["BYMONTHDAY"]))
        else:
            weekday, ordinal = RRULE_DAYS.index(byday[-2:]), int(byday[:-2])
            rule = cls("monthly_weekday", clock, weekday=weekday, ordinal=ordinal)
        return replace(rule, interval=interval, until=until, count=count)


_WORKING_DAYS = ",".join(RRULE_DAYS[:5])
_FREQ = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "weekdays": "WEEKLY",
    "monthly_day": "MONTHLY",
    "monthly_weekday": "MONTHLY",
}


@dataclass(frozen=True)
class Series:
    """A rule and its first occurrence (UTC): the rule's anchor and the series' DTSTART."""

    rule: Rule
    first: datetime

    def occurrences(
        self, tz: ZoneInfo, *, after: datetime | None = None, before: datetime | None = None
    ) -> Iterator[datetime]:
        return occurrences(self.rule, self.first, tz, after=after, before=before)


# --- Expanding --------------------------------------------------------------------------------


def occurrences(
    rule: Rule,
    first: datetime,
    tz: ZoneInfo,
    *,
    after: datetime | None = None,
    before: datetime | None = None,
) -> Iterator[datetime]:
    """The rule's occurrences in UTC, soonest first: strictly after ``after`` and strictly
    before ``before`` when given. Each is the rule's wall time on the room's clock."""
    anchor = datetime.combine(first.astimezone(tz).date(), time(0))
    # Start a day early: the wall time of ``after`` and the UTC offset may differ by hours.
    start = anchor
    if after is not None:
        start = max(anchor, after.astimezone(tz).replace(tzinfo=None) - timedelta(days=1))
        anchor = _closer_anchor(rule, anchor, start)
    expanded = rrulestr(rule.rrule_text(), dtstart=anchor)
    assert isinstance(expanded, rrule)
    for local in expanded.xafter(start, inc=True):
        moment = local_to_utc(local.date(), local.time(), tz)
        if after is not None and moment <= after:
            continue
        if before is not None and moment >= before:
            return
        yield moment


def _closer_anchor(rule: Rule, anchor: datetime, start: datetime) -> datetime:
    """A later DTSTART giving the same occurrences from ``start`` on, so a series a year old
    is not expanded from its first meeting at every question (dateutil iterates from DTSTART).

    Only without COUNT (it counts from DTSTART); the new anchor keeps the rule's phase: whole
    periods of ``interval`` weeks for a weekly rule, the first of a month for a monthly one.
    """
    if rule.count is not None or start - anchor < timedelta(days=62):
        return anchor
    if rule.pattern == "weekly":
        period = 7 * rule.interval
        periods = (start - anchor).days // period - 1
        return anchor + timedelta(days=periods * period)
    if rule.pattern in ("daily", "weekdays") and rule.interval == 1:
        return datetime.combine(start.date() - timedelta(days=7), time(0))
    if rule.pattern in ("monthly_day", "monthly_weekday") and rule.interval == 1:
        earlier = start.date().replace(day=1) - timedelta(days=1)
        return datetime.combine(earlier.replace(day=1), time(0))
    return anchor


def next_occurrences(
    rule: Rule, first: datetime, tz: ZoneInfo, *, after: datetime, limit: int
) -> list[datetime]:
    """The next ``limit`` occurrences after ``after``."""
    return list(islice(occurrences(rule, first, tz, after=after), limit))


def last_occurrence(rule: Rule, first: datetime, tz: ZoneInfo) -> datetime | None:
    """The last occurrence of a bounded rule, None when it repeats forever."""
    if rule.until is None and rule.count is None:
        return None
    last = None
    for last in occurrences(rule, first, tz):  # noqa: B007 - bounded by UNTIL or COUNT
        pass
    return last


# --- Parsing ----------------------------------------------------------------------------------

_WEEKDAY = "|".join(sorted(WEEKDAYS, key=len, reverse=True))
_TIME_WORDS = r"(?P<time>.*)"
_ORDINALS = {
    "premier": 1, "1er": 1, "first": 1, "1st": 1,
    "deuxieme": 2, "second": 2, "seconde": 2, "2e": 2, "2eme": 2, "2nd": 2,
    "troisieme": 3, "3e": 3, "3eme": 3, "third": 3, "3rd": 3,
    "quatrieme": 4, "4e": 4, "4eme": 4, "fourth": 4, "4th": 4,
    "dernier": -1, "last": -1,
}  # fmt: skip
_ORDINAL = "|".join(sorted(_ORDINALS, key=len, reverse=True))
# Days of the week in a list: « lundis et jeudis », ``Monday, Wednesday and Friday``.
_DAYS = rf"(?:{_WEEKDAY})s?(?:\s+(?:(?:et|and)\s+)?(?:(?:les|le|on)\s+)?(?:{_WEEKDAY})s?)*"
_DAY_NAME = re.compile(rf"\b({_WEEKDAY})s?\b", re.ASCII)
_EVERY_WEEK = r"(?:toutes\s+les\s+semaines|chaque\s+semaine|every\s+week|weekly)"
_EVERY_OTHER_WEEK = (
    r"(?:toutes\s+les\s+(?:deux|2)\s+semaines|tous\s+les\s+(?:quinze|15)\s+jours"
    r"|every\s+(?:two|2|other)\s+weeks?|fortnightly|biweekly)"
)
_EVERY_MONTH = r"(?:tous\s+les\s+mois|chaque\s+mois|every\s+month|monthly)"
_ON = r"\s+(?:le\s+|les\s+|on\s+the\s+|on\s+|the\s+)?"

# Other wordings, rewritten into the forms below: « toutes les semaines le mardi » is « tous les
# mardis », « tous les mois le 15 » is « le 15 de chaque mois »…
_WORDINGS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.ASCII), replacement)
    for pattern, replacement in (
        (rf"^{_EVERY_WEEK}{_ON}(?=(?:{_WEEKDAY}))", "tous les "),
        (rf"^{_EVERY_OTHER_WEEK}{_ON}(?P<day>{_WEEKDAY})s?\b", r"un \g<day> sur deux"),
        (
            rf"^{_EVERY_MONTH}{_ON}(?P<day>\d{{1,2}}(?:er|e|eme|st|nd|rd|th)?)\b",
            r"le \g<day> de chaque mois",
        ),
        (
            rf"^{_EVERY_MONTH}{_ON}(?P<ordinal>{_ORDINAL})\s+(?P<day>{_WEEKDAY})\b",
            r"le \g<ordinal> \g<day> du mois",
        ),
        (rf"^{_EVERY_MONTH}{_ON}(?:dernier\s+jour|last\s+day)\b", "le dernier jour du mois"),
    )
)

# Each form: (pattern over the normalised text, what it means). The time is what is left.
_FORMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.ASCII), pattern_name)
    for pattern, pattern_name in (
        (
            r"^(?:tous\s+les\s+jours\s+(?:ouvres|ouvrables|de\s+semaine)"
            r"|du\s+lundi\s+au\s+vendredi|(?:every\s+)?weekdays?"
            r"|every\s+(?:working|business|week)\s*day)\b",
            "weekdays",
        ),
        (r"^(?:tous\s+les\s+jours|chaque\s+jour|every\s*day|daily)\b", "daily"),
        (
            rf"^(?:un|une|one)\s+(?P<weekday>{_WEEKDAY})s?\s+sur\s+(?P<interval>deux|2)\b"
            rf"|^(?:tous\s+les\s+(?:deux|2)|toutes\s+les\s+(?:deux|2)\s+semaines\s+le)\s+"
            rf"(?P<weekday2>{_WEEKDAY})s?\b"
            rf"|^every\s+(?:other|second|2nd)\s+(?P<weekday3>{_WEEKDAY})s?\b",
            "biweekly",
        ),
        (
            rf"^(?:tous\s+les|chaque|every|on|each)\s+(?P<days>{_DAYS})\b"
            rf"|^(?P<weekday2>{_WEEKDAY})s\b",
            "weekly",
        ),
        (
            rf"^(?:le\s+|the\s+|on\s+the\s+|every\s+)?(?P<ordinal>{_ORDINAL})\s+"
            rf"(?P<weekday>{_WEEKDAY})\s+(?:du|de\s+chaque|de\s+tous\s+les|of\s+(?:the|every|each)"
            r")\s+mois\b|^(?:le\s+|the\s+|on\s+the\s+|every\s+)?(?P<ordinal2>"
            rf"{_ORDINAL})\s+(?P<weekday2>{_WEEKDAY})\s+of\s+(?:the|every|each)\s+month\b",
            "monthly_weekday",
        ),
        (
            r"^(?:le\s+|the\s+|on\s+the\s+)?(?:dernier\s+jour\s+(?:du|de\s+chaque)\s+mois"
            r"|last\s+day\s+of\s+(?:the|every|each)\s+month)\b",
            "monthly_last_day",
        ),
        (
            r"^(?:le\s+|tous\s+les\s+|on\s+the\s+|the\s+)?(?P<day>\d{1,2})(?:er|e|eme|st|nd|rd|th)?"
            r"\s+(?:de\s+chaque\s+mois|du\s+mois|de\s+tous\s+les\s+mois|tous\s+les\s+mois"
            r"|of\s+(?:every|each|the)\s+month)\b",
            "monthly_day",
        ),
    )
)

# Bounds, searched in the whole phrase; each takes the words up to the next bound.
_BOUND_WORDS = (
    r"(?P<from>\ba\s+partir\s+d[eu]\b|\ba\s+partir\s+de\s+l'|\bdes\s+le\b|\bfrom\b"
    r"|\bstarting(?:\s+on|\s+from)?\b|\bbeginning\b)"
    r"|(?P<until>\bjusqu'(?:au|a|en)\b|\bjusqu'a\s+l'|\buntil\b|\btill\b|\bthrough\b)"
)
_BOUND = re.compile(_BOUND_WORDS, re.ASCII)
_COUNT = re.compile(r"(?:,\s*)?\b(?P<count>\d{1,6})\s+(?:fois|times|occurrences?)\b", re.ASCII)
_RULE_WORDS = re.compile(
    r"\b(?:tous|toutes|chaque|every|each|sur\s+deux|du\s+mois|de\s+chaque\s+mois|of\s+the\s+month"
    r"|of\s+every\s+month|jours\s+ouvres|weekdays?|daily|weekly|monthly|fortnightly|biweekly"
    r"|fois|times)\b",
    re.ASCII,
)


def looks_recurring(text: str) -> bool:
    """True when the text speaks of a repetition (so it is read as a rule, not as a date)."""
    return _RULE_WORDS.search(normalise(text)) is not None


def parse_rule(text: str, *, now: datetime, tz: ZoneInfo, language: str = "fr") -> Series:
    """Read a repetition phrase; raises DateError with the reply when it cannot be used."""
    quoted = " ".join(text.split())
    normalised = normalise(quoted).replace(",", " ")
    normalised = re.sub(r"\s+", " ", normalised).strip()
    rest, count = _take_count(normalised, quoted)
    rest, starts_text, until_text = _take_bounds(rest, quoted)
    rule = _read_form(rest, quoted)
    if count is not None and until_text is not None:
        raise DateError(Message(MSG_UNTIL_AND_COUNT, {"text": quoted}))
    starts_on = None
    if starts_text is not None:
        starts_on = _bound_day(starts_text, now=now, tz=tz, language=language)
    rule = replace(rule, count=count)
    first = _first_occurrence(rule, now=now, tz=tz, starts_on=starts_on)
    if first is None:
        raise DateError(Message(MSG_NO_OCCURRENCE, {"text": quoted}))
    if until_text is not None:
        until = _bound_day(until_text, now=now, tz=tz, language=language)
        if until < first.astimezone(tz).date():
            raise DateError(
                Message(
                    MSG_UNTIL_BEFORE_START,
                    {
                        "text": quoted,
                        "start": format_day(first.astimezone(tz).date(), language=language),
                        "until": format_day(until, language=language),
                    },
                )
            )
        rule = replace(rule, until=until)
    return Series(rule, first)


def _take_count(text: str, quoted: str) -> tuple[str, int | None]:
    match = _COUNT.search(text)
    if match is None:
        return text, None
    count = int(match["count"])
    if not 1 <= count <= MAX_COUNT:
        raise DateError(Message(MSG_BAD_COUNT, {"text": quoted, "limit": MAX_COUNT}))
    return (text[: match.start()] + " " + text[match.end() :]).strip(), count


def _take_bounds(text: str, quoted: str) -> tuple[str, str | None, str | None]:
    """Split « <rule> à partir du X jusqu'au Y » into the rule and the two bound phrases."""
    matches = list(_BOUND.finditer(text))
    if not matches:
        return text, None, None
    bounds: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        name = "from" if match["from"] else "until"
        if name in bounds:
            raise DateError(Message(MSG_NOT_UNDERSTOOD, {"text": quoted}))
        bounds[name] = text[match.end() : end].strip()
    return text[: matches[0].start()].strip(), bounds.get("from"), bounds.get("until")


def _read_form(text: str, quoted: str) -> Rule:
    """The rule part: which days, and the time left after them."""
    for wording, replacement in _WORDINGS:
        text = wording.sub(replacement, text, count=1)
    for pattern, name in _FORMS:
        match = pattern.search(text)
        if match is None:
            continue
        found = {key: value for key, value in match.groupdict().items() if value is not None}
        clock = _read_time(text[match.end() :], quoted)
        weekday = next((WEEKDAYS[v] for k, v in found.items() if k.startswith("weekday")), None)
        if name == "weekdays":
            return Rule("weekdays", clock)
        if name == "daily":
            return Rule("daily", clock)
        if name == "biweekly":
            return Rule("weekly", clock, interval=2, weekday=weekday)
        if name == "weekly" and "days" in found:
            return _weekly(found["days"], clock)
        if name == "weekly":
            return Rule("weekly", clock, weekday=weekday)
        if name == "monthly_weekday":
            ordinal = next(_ORDINALS[v] for k, v in found.items() if k.startswith("ordinal"))
            return Rule("monthly_weekday", clock, weekday=weekday, ordinal=ordinal)
        if name == "monthly_last_day":
            return Rule("monthly_day", clock, monthday=-1)
        day = int(found["day"])
        if not 1 <= day <= 31:
            raise DateError(Message(MSG_NOT_UNDERSTOOD, {"text": quoted}))
        if day > 28:
            raise DateError(Message(MSG_MONTH_END, {"text": quoted, "day": day}))
        return Rule("monthly_day", clock, monthday=day)
    raise DateError(Message(MSG_NOT_UNDERSTOOD, {"text": quoted}))


def _weekly(days_text: str, clock: time) -> Rule:
    """« tous les lundis et jeudis »: every day named, each once, in the week's order (all five
    working days are « tous les jours ouvrés »)."""
    days = sorted({WEEKDAYS[name] for name in _DAY_NAME.findall(days_text)})
    if days == list(range(5)):
        return Rule("weekdays", clock)
    return Rule("weekly", clock, weekday=days[0], more_days=tuple(days[1:]))


def _read_time(text: str, quoted: str) -> time:
    """The time after the days (« à 18h », ``at 6pm``): required, and nothing else."""
    words = text.strip()
    if not words or words in ("a", "at"):
        raise DateError(Message(MSG_NO_TIME, {"text": quoted}))
    try:
        phrase = parse_phrase(words)
    except GrammarError:
        phrase = None
    if phrase is None or phrase.clock is None:
        raise DateError(Message(MSG_NO_TIME, {"text": quoted}))
    if any(
        part is not None
        for part in (phrase.calendar, phrase.day_shift, phrase.weekday, phrase.exact)
    ):
        raise DateError(Message(MSG_NOT_UNDERSTOOD, {"text": quoted}))
    clock = phrase.clock.value
    if phrase.evening and not phrase.clock.meridiem and 1 <= clock.hour <= 11:
        clock = clock.replace(hour=clock.hour + 12)
    return clock


def _bound_day(text: str, *, now: datetime, tz: ZoneInfo, language: str) -> date:
    """The day a bound names (« 30 juin », ``June 30``), on the room's clock; today allowed."""
    moment = parse_when(text, now=now, tz=tz, language=language, default_time=time(23, 59))
    return moment.astimezone(tz).date()


def _first_occurrence(
    rule: Rule, *, now: datetime, tz: ZoneInfo, starts_on: date | None
) -> datetime | None:
    """The first occurrence strictly after now, on or after ``starts_on``."""
    day = now.astimezone(tz).date()
    if starts_on is not None and starts_on > day:
        day = starts_on
    # Every matching day counts for the first one: « un mardi sur deux » alternates from it.
    probe = replace(rule, interval=1, until=None, count=None)
    anchor = local_to_utc(day, time(12), tz)
    for moment in occurrences(probe, anchor, tz):
        if moment > now:
            return moment if moment - now <= MAX_AHEAD else None
    return None


# --- Words ------------------------------------------------------------------------------------


def describe_rule(rule: Rule, first: datetime, tz: ZoneInfo, *, language: str) -> str:
    """The rule in words: « tous les mardis à 18:00, à partir du mardi 8 décembre 2026,
    jusqu'au mardi 29 juin 2027 » / ``every Tuesday at 18:00, from …, 10 times``."""
    translator = _translator(language)
    parts = [_describe_days(rule, translator, language)]
    parts.append(
        translator.render(MSG_FROM, date=format_day(first.astimezone(tz).date(), language=language))
    )
    if rule.until is not None:
        last = last_occurrence(rule, first, tz)
        day = last.astimezone(tz).date() if last is not None else rule.until
        parts.append(translator.render(MSG_UNTIL, date=format_day(day, language=language)))
    if rule.count is not None:
        parts.append(translator.render(MSG_TIMES, count=rule.count))
    return ", ".join(parts)


def describe_days(rule: Rule, *, language: str) -> str:
    """Only which days and at what time: « tous les mardis à 18:00 »."""
    return _describe_days(rule, _translator(language), language)


def _describe_days(rule: Rule, translator: Translator, language: str) -> str:
    clock = rule.clock.strftime("%H:%M")
    weekday = _weekday_name(rule.weekday, language) if rule.weekday is not None else ""
    if rule.pattern == "daily":
        return translator.render(MSG_EVERY_DAY, time=clock)
    if rule.pattern == "weekdays":
        return translator.render(MSG_EVERY_WEEKDAY, time=clock)
    if rule.pattern == "weekly" and rule.more_days and rule.weekday is not None:
        # (read from words every week: « un lundi et un jeudi sur deux » is not offered)
        names = [_weekday_name(day, language) for day in (rule.weekday, *rule.more_days)]
        if language == "fr":
            names = [f"{name}s" for name in names]  # « tous les lundis et jeudis »
        listed = translator.render(MSG_AND, first=", ".join(names[:-1]), last=names[-1])
        return translator.render(MSG_WEEKLY_DAYS, weekdays=listed, time=clock)
    if rule.pattern == "weekly" and rule.interval == 1:
        return translator.render(MSG_WEEKLY, weekday=weekday, time=clock)
    if rule.pattern == "weekly" and rule.interval == 2:
        return translator.render(MSG_WEEKLY_OTHER, weekday=weekday, time=clock)
    if rule.pattern == "weekly":
        return translator.render(
            MSG_EVERY_N_WEEKS, interval=rule.interval, weekday=weekday, time=clock
        )
    if rule.pattern == "monthly_weekday":
        ordinal = translator.gettext(ORDINAL_WORDS[rule.ordinal or 1])
        return translator.render(MSG_MONTHLY_WEEKDAY, ordinal=ordinal, weekday=weekday, time=clock)
    if rule.monthday == -1:
        return translator.render(MSG_MONTHLY_LAST_DAY, time=clock)
    return translator.render(
        MSG_MONTHLY_DAY, day=_day_number(rule.monthday or 1, language), time=clock
    )


def _day_number(day: int, language: str) -> str:
    """« 1er », « 15 » in French; 1st, 2nd, 15th in English."""
    if language == "fr":
        return "1er" if day == 1 else str(day)
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _weekday_name(weekday: int, language: str) -> str:
    # A Monday's date gives the weekday's name through the one formatter of day names.
    return format_day(date(2026, 1, 5) + timedelta(days=weekday), language=language).split()[0]


_TRANSLATIONS: list[Translations] = []


def _translator(language: str) -> Translator:
    if not _TRANSLATIONS:
        _TRANSLATIONS.append(Translations())
    return _TRANSLATIONS[0].for_language(language)


def utc(moment: datetime) -> datetime:
    """An aware moment in UTC (stored values may come back naive from some databases)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
