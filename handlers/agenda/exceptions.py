"""One meeting of a recurring event cancelled or moved: `!annuler E12 le 15 décembre`,
`!déplacer E12 le 15 décembre ; mercredi 16 décembre 18h`.

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

from bot.runtime.context import Context
from bot.runtime.messages import notice_content
from bot.text.dates import format_day, format_when, parse_when
from bot.text.errors import UserError
from bot.text.i18n import N_
from handlers.agenda import series
from handlers.agenda.args import KINDS, label
from storage.agenda import EVENT, AgendaRepository
from storage.agenda_models import AgendaItem, OccurrenceException

MOVED_PREFIX = "agenda:moved:"
SHOWN_NEXT = 3
OCCURRENCE_PATTERN = re.compile(r"^\s*([A-Za-z])\s*-?\s*(\d{1,9})\b\s*(.*)$", re.DOTALL)

MSG_MOVE_USAGE = N_(
    "Give the event's ID, the date of the meeting to move and its new date, separated by “;”, "
    "e.g. {example}"
)
MSG_NOT_RECURRING = N_(
    "{id} is not a recurring event: only a meeting of a series is cancelled or moved by its "
    "date. To cancel {id}, write {example}."
)
MSG_NO_MEETING = N_("{id} has no meeting on {date}. Its next meetings: {next}.")
MSG_TAKEN = N_("{id} already has a meeting at {when}. Choose another time, e.g. {example}.")
MSG_MOVED = N_(
    "The meeting of {id} “{title}” on {old} moves to {new}. Reminders follow the new time; "
    "answer on this message for this meeting: ✅ going, 🤔 maybe, ❌ not going."
)
MSG_ONLY_AUTHOR = N_("Only organisers or the person who announced {id} can change its meetings.")


@dataclass(frozen=True)
class MeetingRef:
    """`E12 le 15 décembre`: a series and the text naming one of its meetings."""

    number: int
    when_text: str


def split_occurrence(text: str) -> tuple[str, int, str] | None:
    """``E12 le 15 décembre`` → (``E``, 12, ``le 15 décembre``); None when it is no ID."""
    match = OCCURRENCE_PATTERN.match(text)
    if match is None:
        return None
    return match.group(1).upper(), int(match.group(2)), match.group(3).strip()


def read_move(ctx: Context) -> tuple[MeetingRef, datetime]:
    """`!déplacer` arguments: ``E12 le 15 décembre ; <nouvelle date>``."""
    example = "!déplacer E12 le 15 décembre ; mercredi 16 décembre 18h"
    parts = [part.strip() for part in re.split(r"[;\n]", ctx.args, maxsplit=1)]
    if len(parts) != 2 or not parts[1]:
        raise UserError(MSG_MOVE_USAGE, example=example)
    parsed = split_occurrence(parts[0])
    if parsed is None or parsed[0] != "E" or not parsed[2]:
        raise UserError(MSG_MOVE_USAGE, example=example)
    new_start = parse_when(parts[1], now=ctx.clock.now(), tz=ctx.room.tz, language=ctx.language)
    return MeetingRef(parsed[1], parsed[2]), new_start


async def find_meeting(
    ctx: Context, number: int, when_text: str
) -> tuple[AgendaItem, series.Occurrence]:
    """The series and its meeting a command names; refusals say what exists."""
    repository = AgendaRepository(ctx.session)
    item = repository.get_in_room(number, ctx.room_id, KINDS["E"])
    if item is None or item.status != "active":
        raise UserError(
            "There is no {id} in this room. IDs here: {ids}.", id=f"E{number}", ids=_ids_here(ctx)
        )
    if not item.recurrence:
        raise UserError(MSG_NOT_RECURRING, id=label(item), example=f"!annuler {label(item)}")
    if item.author != ctx.sender and not await ctx.is_organiser():
        raise UserError(MSG_ONLY_AUTHOR, id=label(item))
    now, tz = ctx.clock.now(), series.tz_of(item)
    day = parse_when(when_text, now=now, tz=tz, language=ctx.language, default_time=time(23, 59))
    assert item.id is not None
    exceptions = repository.exceptions(item.id)
    meeting = series.find_occurrence(item, exceptions, day, after=now)
    if meeting is None:
        coming = [
            format_when(occurrence.starts_at, tz=tz, language=ctx.language)
            for occurrence, _ in zip(
                series.schedule(item, exceptions, after=now), range(SHOWN_NEXT), strict=False
            )
        ]
        raise UserError(
            MSG_NO_MEETING,
            id=label(item),
            date=format_day(day.astimezone(tz).date(), language=ctx.language),
            next=" ; ".join(coming) or ctx.t(N_("none planned")),
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


async def move_meeting(ctx: Context) -> None:
    """`!déplacer E12 le 15 décembre ; mercredi 16 décembre 18h`: announced, with reminders
    and RSVPs for the meeting at its new time."""
    ref, new_start = ctx.arguments
    item, meeting = await find_meeting(ctx, ref.number, ref.when_text)
    assert item.id is not None
    now, tz = ctx.clock.now(), series.tz_of(item)
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


def _ids_here(ctx: Context) -> str:
    items = AgendaRepository(ctx.session).list_upcoming(ctx.room_id, ctx.clock.now())
    if not items:
        return ctx.t(N_("none planned"))
    return ", ".join(label(item) for item in items if item.kind == EVENT)
