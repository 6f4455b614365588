"""Reading `!événement` / `!échéance` arguments, and when their reminders fall due.

Kept apart from the handlers so the rules (which fields, what the end means, how reminders
cross a daylight-saving change) can be read and tested on their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.text.dates import (
    MSG_PAST,
    DateError,
    format_offset,
    format_when,
    parse_offsets,
    parse_when,
)
from bot.text.errors import UserError
from bot.text.fields import fold_key, key_names, split_fields
from bot.text.i18n import N_
from bot.text.recurrence import Series, looks_recurring, parse_rule
from storage.agenda import DEADLINE, EVENT
from storage.agenda_models import AgendaItem

PREFIXES = {EVENT: "E", DEADLINE: "D"}
KINDS = {prefix: kind for kind, prefix in PREFIXES.items()}
EVENT_FIELDS = ("when", "place", "link", "end", "reminders")
DEADLINE_FIELDS = ("when", "link", "reminders")
NO_REMINDER_WORDS = {"aucun", "aucune", "non", "none", "no", "off", "pas de rappel"}
MAX_TITLE = 200
MAX_PLACE = 300
MAX_LINK = 500
ID_PATTERN = re.compile(r"^([A-Za-z])\s*-?\s*(\d{1,9})$")

MSG_USAGE = N_("Give a title and a date, separated by “;”, e.g. {example}")
MSG_EXTRA_FIELD = N_(
    "I did not understand the field “{text}”. After the title and the date, write options "
    "as key: value. Valid fields here: {keys}."
)
MSG_TITLE_TOO_LONG = N_("The title is too long ({length} characters; at most {limit}).")
MSG_PLACE_TOO_LONG = N_("The place is too long ({length} characters; at most {limit}).")
MSG_LINK_TOO_LONG = N_("The link is too long ({length} characters; at most {limit}).")
MSG_DEADLINE_REPEATS = N_(
    "Only events repeat; a deadline is a single date. Write for example: "
    "!event Group meeting ; every Tuesday at 6pm"
)
MSG_END_BEFORE_START = N_(
    "The end “{text}” must come after the start ({start}). Write for example: end: 5pm."
)
EXAMPLES = {
    (
        "event",
        "fr",
    ): "!événement Journée numérique ; 11 mai 9h30 ; lieu: MAME Tours ; rappels: 7j, 1j",
    ("event", "en"): "!event Digital day ; May 11 9:30am ; place: MAME Tours ; reminders: 7d, 1d",
    ("deadline", "fr"): "!échéance Dépôt des contributions ; 30/06 23h59 ; rappels: 7j, 1j",
    ("deadline", "en"): "!deadline Contributions due ; June 30 11:59pm ; reminders: 7d, 1d",
}


@dataclass(frozen=True)
class Draft:
    """What a creation command asked for, checked: dates in UTC, offsets largest first."""

    title: str
    starts_at: datetime
    ends_at: datetime | None = None
    place: str | None = None
    link: str | None = None
    offsets: list[timedelta] = field(default_factory=list)
    series: Series | None = None  # a recurring event: its rule; starts_at is its first meeting


def label(item: AgendaItem) -> str:
    """The short ID people type: ``E7``, ``D3``."""
    return f"{PREFIXES[item.kind]}{item.id}"


def parse_draft(
    text: str,
    *,
    kind: str,
    now: datetime,
    tz: ZoneInfo,
    language: str,
    default_reminders: str,
) -> Draft:
    """Read ``titre ; quand [; clé: valeur …]``; raises UserError / DateError with the reply."""
    is_event = kind == "event"
    allowed = EVENT_FIELDS if is_event else DEADLINE_FIELDS
    example = EXAMPLES[(kind, "en" if language == "en" else "fr")]
    positional, options = split_fields(text, allowed)
    if "when" in options:
        positional.insert(1, options["when"])
    if len(positional) < 2:
        raise UserError(MSG_USAGE, example=example)
    series = None
    if looks_recurring(positional[1]):
        if not is_event:
            raise UserError(MSG_DEADLINE_REPEATS)
        # the bounds may come as fields of their own: « ; tous les mardis à 18h ; 10 fois »
        positional = [positional[0], " ".join(positional[1:])]
        series = parse_rule(positional[1], now=now, tz=tz, language=language)
    if len(positional) > 2:
        raise UserError(MSG_EXTRA_FIELD, text=positional[2], keys=key_names(allowed))
    title, when_text = positional
    _check_length(title, MAX_TITLE, MSG_TITLE_TOO_LONG)
    if series is not None:
        starts_at = series.first
    else:
        starts_at = parse_when(when_text, now=now, tz=tz, language=language)
    ends_at = None
    if "end" in options:
        ends_at = parse_end(options["end"], starts_at=starts_at, tz=tz, language=language)
    place, link = options.get("place"), options.get("link")
    if place:
        _check_length(place, MAX_PLACE, MSG_PLACE_TOO_LONG)
    if link:
        _check_length(link, MAX_LINK, MSG_LINK_TOO_LONG)
    reminders = options.get("reminders", default_reminders)
    return Draft(title, starts_at, ends_at, place, link, read_offsets(reminders), series)


def parse_end(text: str, *, starts_at: datetime, tz: ZoneInfo, language: str) -> datetime:
    """The end, read from the start of the event's day: ``fin: 17h`` is 17:00 that day,
    ``fin: demain 2h`` is 02:00 the day after; it must come after the start."""
    local_start = starts_at.astimezone(tz)
    day_start = datetime.combine(local_start.date(), time(0), tzinfo=tz).astimezone(UTC)
    try:
        ends_at = parse_when(text, now=day_start, tz=tz, language=language)
    except DateError as error:
        if error.message.msgid != MSG_PAST:
            raise
        ends_at = None
    if ends_at is None or ends_at <= starts_at:
        raise UserError(
            MSG_END_BEFORE_START,
            text=text,
            start=format_when(starts_at, tz=tz, language=language),
        )
    return ends_at


def read_offsets(text: str) -> list[timedelta]:
    """Reminder offsets, largest first; ``aucun`` / ``none`` means no reminder."""
    if fold_key(" ".join(text.split())) in NO_REMINDER_WORDS:
        return []
    return parse_offsets(text)


def _check_length(text: str, limit: int, message: str) -> None:
    if len(text) > limit:
        raise UserError(message, length=len(text), limit=limit)


# --- reminders ---------------------------------------------------------------------------------


def reminder_due(starts_at: datetime, offset: timedelta, tz: ZoneInfo) -> datetime:
    """When a reminder ``offset`` before ``starts_at`` falls due, in UTC.

    Whole days count on the room's wall clock: J-1 of a 09:30 event is 09:30 the day before
    even across a daylight-saving change (then 23 or 25 real hours). Hours and minutes are real
    time: H-1 is always 60 minutes before. ``1j 2h`` is one wall-clock day, then 2 real hours.
    """
    days = timedelta(days=offset.days)
    rest = offset - days
    moment = starts_at
    if days:
        local = starts_at.astimezone(tz).replace(tzinfo=None) - days
        # fold=0: a repeated autumn time takes its first occurrence; a time inside the spring
        # gap moves forward by the gap, as the clocks do (same rules as date parsing).
        moment = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return moment - rest


def start_stamp(starts_at: datetime) -> str:
    """How a reminder's key names the start it is for (UTC): ``20261208T1700``. A series'
    keys always carry it, a moved one-off item's too (``reminder:E7:20261208T1700:1d``)."""
    return starts_at.astimezone(UTC).strftime("%Y%m%dT%H%M")


@dataclass(frozen=True)
class PlannedReminder:
    offset: timedelta
    due_at: datetime

    @property
    def key_suffix(self) -> str:
        """Stable, language-independent: ``7d``, ``1d``, ``1h``, ``30m``."""
        return format_offset(self.offset, language="en")


def plan_reminders(
    starts_at: datetime, offsets: list[timedelta], *, now: datetime, tz: ZoneInfo
) -> tuple[list[PlannedReminder], list[timedelta]]:
    """Split offsets into reminders to schedule and those already past at creation."""
    planned: list[PlannedReminder] = []
    skipped: list[timedelta] = []
    for offset in offsets:
        due = reminder_due(starts_at, offset, tz)
        if due > now:
            planned.append(PlannedReminder(offset, due))
        else:
            skipped.append(offset)
    return planned, skipped


def parse_item_id(text: str) -> tuple[str, int] | None:
    """``E7`` / ``e 7`` / ``D-3`` → (``E``, 7); None when it is not a short ID."""
    match = ID_PATTERN.match(text.strip())
    if match is None:
        return None
    return match.group(1).upper(), int(match.group(2))
