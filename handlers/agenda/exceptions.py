"""One meeting of a recurring event cancelled or moved: `!annuler E12 le 15 décembre`,
`!déplacer E12 le 15 décembre ; mercredi 16 décembre 18h`. (`!déplacer E3 ; <date>` moves a
one-off event or deadline: ``handlers.agenda.reschedule``.)

A meeting is named by its date on the room's clock: its date now (a moved meeting by its new
date), else its original date. Each change is stored as an exception of the series, announced
in the room, and the series' timer is armed again (the cancelled meeting's reminder is dropped,
the moved one's comes at its new time). Reactions on a move's announcement answer for that
meeting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.runtime.context import Context
from bot.runtime.messages import notice_content
from bot.text.dates import format_day, format_when, parse_when
from bot.text.errors import UserError
from bot.text.i18n import N_
from bot.text.recurrence import utc
from handlers.agenda import series
from handlers.agenda.args import KINDS, label
from handlers.agenda.reschedule import move_item
from storage.agenda import AgendaRepository
from storage.agenda_models import AgendaItem, OccurrenceException

MOVED_PREFIX = "agenda:moved:"
SHOWN_NEXT = 3
OCCURRENCE_PATTERN = re.compile(r"^\s*([A-Za-z])\s*-?\s*(\d{1,9})\b\s*(.*)$", re.DOTALL)

MSG_MOVE_USAGE = N_(
    "Give the ID and the new date, separated by “;”, e.g. {example}; for one meeting of a "
    "recurring event, its date after the ID, e.g. {meeting}"
)
MSG_NOT_MOVABLE = N_(
    "Only an event (E…) or a deadline (D…) can be moved, not {id}. For example: {example}"
)
MSG_WHICH_MEETING = N_(
    "{id} is a recurring event: say which meeting moves, by its date, e.g. {example}. "
    "Its next meetings: {next}."
)
MSG_NOT_RECURRING = N_(
    "{id} is not a recurring event: only a meeting of a series is cancelled by its date. "
    "To cancel {id}, write {example}."
)
MSG_NO_MEETING = N_("{id} has no meeting on {date}. Its next meetings: {next}.")
MSG_ALREADY_CANCELLED = N_(
    "The meeting of {id} on {date} is already cancelled. Its next meetings: {next}."
)
MSG_TAKEN = N_("{id} already has a meeting at {when}. Choose another time, e.g. {example}.")
MSG_MOVED = N_(
    "The meeting of {id} “{title}” on {old} moves to {new}. Reminders follow the new time; "
    "answer on this message for this meeting: ✅ going, 🤔 maybe, ❌ not going."
)
MSG_ONLY_AUTHOR = N_("Only organisers or the person who announced {id} can change its meetings.")
MSG_ONLY_AUTHOR_MOVE = N_("Only organisers or the person who announced {id} can move {id}.")


@dataclass(frozen=True)
class MeetingRef:
    """`E12 le 15 décembre`: a series and the text naming one of its meetings (`D3`, `E3`
    alone: a one-off item, or a series whose meeting is not named)."""

    number: int
    when_text: str
    prefix: str = "E"


@dataclass(frozen=True)
class MoveRequest:
    """`!déplacer E3 ; vendredi 19 juin 18h`: what moves, and its new date as written (read
    once the item is known: a date without a time keeps the item's time of day)."""

    ref: MeetingRef
    new_text: str

    def new_start(self, ctx: Context, starts_at: datetime, tz: ZoneInfo) -> datetime:
        kept = starts_at.astimezone(tz).time().replace(second=0, microsecond=0, tzinfo=None)
        return parse_when(
            self.new_text, now=ctx.clock.now(), tz=tz, language=ctx.language, default_time=kept
        )


def split_occurrence(text: str) -> tuple[str, int, str] | None:
    """``E12 le 15 décembre`` → (``E``, 12, ``le 15 décembre``); None when it is no ID."""
    match = OCCURRENCE_PATTERN.match(text)
    if match is None:
        return None
    return match.group(1).upper(), int(match.group(2)), match.group(3).strip()


def read_move(ctx: Context) -> MoveRequest:
    """`!déplacer` arguments: ``E3 ; <nouvelle date>``, ``D2 ; <nouvelle date>`` or, for a
    meeting of a series, ``E12 le 15 décembre ; <nouvelle date>``."""
    examples = {
        "example": "!déplacer E3 ; vendredi 19 juin 18h",
        "meeting": "!déplacer E12 le 15 décembre ; mercredi 16 décembre 18h",
    }
    parts = [part.strip() for part in re.split(r"[;\n]", ctx.args, maxsplit=1)]
    if len(parts) != 2 or not parts[1]:
        raise UserError(MSG_MOVE_USAGE, **examples)
    parsed = split_occurrence(parts[0])
    if parsed is None:
        raise UserError(MSG_MOVE_USAGE, **examples)
    if parsed[0] not in KINDS:  # `S2`: a poll's end is not moved
        raise UserError(MSG_NOT_MOVABLE, id=f"{parsed[0]}{parsed[1]}", **examples)
    return MoveRequest(MeetingRef(parsed[1], parsed[2], prefix=parsed[0]), parts[1])


def _active_item(ctx: Context, prefix: str, number: int) -> AgendaItem:
    """The room's event (`E`) or deadline (`D`) of that number, if it is still on."""
    item = AgendaRepository(ctx.session).get_in_room(number, ctx.room_id, KINDS[prefix])
    if item is None or item.status != "active":
        raise UserError(
            "There is no {id} in this room. IDs here: {ids}.",
            id=f"{prefix}{number}",
            ids=_ids_here(ctx),
        )
    return item


async def find_meeting(
    ctx: Context, number: int, when_text: str
) -> tuple[AgendaItem, series.Occurrence]:
    """The series and its meeting a command names; refusals say what exists."""
    item = _active_item(ctx, "E", number)
    if not item.recurrence:
        raise UserError(MSG_NOT_RECURRING, id=label(item), example=f"!annuler {label(item)}")
    if item.author != ctx.sender and not await ctx.is_organiser():
        raise UserError(MSG_ONLY_AUTHOR, id=label(item))
    repository = AgendaRepository(ctx.session)
    now, tz = ctx.clock.now(), series.tz_of(item)
    day = parse_when(when_text, now=now, tz=tz, language=ctx.language, default_time=time(23, 59))
    assert item.id is not None
    exceptions = repository.exceptions(item.id)
    meeting = series.find_occurrence(item, exceptions, day, after=now)
    if meeting is None:
        cancelled = any(
            change.status == "cancelled"
            and utc(change.occurs_at).astimezone(tz).date() == day.astimezone(tz).date()
            for change in exceptions
        )
        raise UserError(
            MSG_ALREADY_CANCELLED if cancelled else MSG_NO_MEETING,
            id=label(item),
            date=format_day(day.astimezone(tz).date(), language=ctx.language),
            next=_next_meetings(ctx, item, exceptions),
        )
    return item, meeting


async def cancel_meeting(ctx: Context, number: int, when_text: str) -> None:
    """`!annuler E12 le 15 décembre`: that meeting only; the series goes on."""
    item, meeting = await find_meeting(ctx, number, when_text)
    assert item.id is not None
    now = ctx.clock.now()
    repository = AgendaRepository(ctx.session)
    repository.set_exception(item.id, meeting.original, "cancelled", now)
    _after_change(ctx, item, now)
    coming = series.next_occurrence(item, repository.exceptions(item.id), after=now)
    tz = series.tz_of(item)
    ctx.reply(
        "The meeting of {id} “{title}” on {when} is cancelled; its reminders will not be "
        "sent. The series goes on; next meeting: {next}.",
        id=label(item),
        title=item.title,
        when=format_when(meeting.starts_at, tz=tz, language=ctx.language),
        next=format_when(coming.starts_at, tz=tz, language=ctx.language)
        if coming
        else ctx.t(N_("none planned")),
    )


async def move(ctx: Context) -> None:
    """`!déplacer`: a one-off event or deadline to a new date, or one meeting of a series."""
    request: MoveRequest = ctx.arguments
    ref = request.ref
    item = _active_item(ctx, ref.prefix, ref.number)
    if not item.recurrence:
        if item.author != ctx.sender and not await ctx.is_organiser():
            raise UserError(MSG_ONLY_AUTHOR_MOVE, id=label(item))
        new_start = request.new_start(ctx, item.starts_at, series.tz_of(item))
        move_item(ctx, item, ref.when_text, new_start)
        return
    if not ref.when_text:
        assert item.id is not None
        exceptions = AgendaRepository(ctx.session).exceptions(item.id)
        raise UserError(
            MSG_WHICH_MEETING,
            id=label(item),
            example=f"!déplacer {label(item)} le 15 décembre ; mercredi 16 décembre 18h",
            next=_next_meetings(ctx, item, exceptions),
        )
    await move_meeting(ctx, request)


async def move_meeting(ctx: Context, request: MoveRequest) -> None:
    """`!déplacer E12 le 15 décembre ; mercredi 16 décembre 18h`: announced, with reminders
    and RSVPs for the meeting at its new time."""
    ref = request.ref
    item, meeting = await find_meeting(ctx, ref.number, ref.when_text)
    assert item.id is not None
    now, tz = ctx.clock.now(), series.tz_of(item)
    new_start = request.new_start(ctx, meeting.starts_at, tz)
    repository = AgendaRepository(ctx.session)
    exceptions = repository.exceptions(item.id)
    taken = _meeting_at(item, exceptions, new_start, now)
    if taken is not None and taken.original != meeting.original:
        raise UserError(
            MSG_TAKEN,
            id=label(item),
            when=format_when(new_start, tz=tz, language=ctx.language),
            example=f"!déplacer {label(item)} {ref.when_text} ; mercredi 18h30",
        )
    repository.set_exception(item.id, meeting.original, "moved", now, moved_to=new_start)
    _after_change(ctx, item, now)
    key = f"{MOVED_PREFIX}{ctx.event_id}"
    repository.add_occurrence_message(key, item.id, meeting.original)
    rendered = ctx.renderer.text(
        ctx.language,
        MSG_MOVED,
        id=label(item),
        title=item.title,
        old=format_when(meeting.starts_at, tz=tz, language=ctx.language),
        new=format_when(new_start, tz=tz, language=ctx.language),
    )
    ctx.send(key, notice_content(rendered, thread_root=ctx.thread_root))


def _after_change(ctx: Context, item: AgendaItem, now: datetime) -> None:
    """A meeting was cancelled or moved: the series' timer follows, and so does the end that
    keeps it in `!agenda` (a meeting moved past the rule's last date is its last)."""
    assert item.id is not None
    exceptions = AgendaRepository(ctx.session).exceptions(item.id)
    item.last_at = series.last_start(item, exceptions)
    ctx.session.add(item)
    series.arm(ctx.session, ctx.timers, item, after=(now, now))


def _meeting_at(
    item: AgendaItem, exceptions: list[OccurrenceException], moment: datetime, now: datetime
) -> series.Occurrence | None:
    """The meeting of the series that starts exactly at ``moment``, if any."""
    for occurrence in series.schedule(item, exceptions, after=now):
        if occurrence.starts_at == moment:
            return occurrence
        if occurrence.starts_at > moment:
            return None
    return None


def _next_meetings(ctx: Context, item: AgendaItem, exceptions: list[OccurrenceException]) -> str:
    """The series' next meetings in words, for a refusal that must name a valid one."""
    tz = series.tz_of(item)
    coming = [
        format_when(occurrence.starts_at, tz=tz, language=ctx.language)
        for occurrence, _ in zip(
            series.schedule(item, exceptions, after=ctx.clock.now()),
            range(SHOWN_NEXT),
            strict=False,
        )
    ]
    return " ; ".join(coming) or ctx.t(N_("none planned"))


def _ids_here(ctx: Context) -> str:
    items = AgendaRepository(ctx.session).list_upcoming(ctx.room_id, ctx.clock.now())
    if not items:
        return ctx.t(N_("none planned"))
    return ", ".join(label(item) for item in items)
