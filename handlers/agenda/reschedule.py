"""A one-off event or deadline moved to a new date: `!déplacer E3 ; vendredi 19 juin 18h`,
`!déplacer D2 ; 15 juillet 23h59` (a deadline pushed back).

The item keeps its ID, its announcement and the answers on it; its end moves with it (the same
length). Its pending reminders make way for those of the new date, keyed by the new start, so a
reminder already sent for the old date is sent again before the new one; a deadline's nudge
follows the same way. The change is announced in the room, and `!agenda`, the digest, the
calendar file and the web pages show the new date.
"""

from __future__ import annotations

from datetime import datetime, time

from bot.runtime.context import Context
from bot.runtime.messages import notice_content
from bot.text.dates import format_day, format_when, parse_when
from bot.text.errors import UserError
from bot.text.i18n import N_
from handlers.agenda.args import label, plan_reminders, read_offsets, start_stamp
from handlers.agenda.nudges import plan_deadline_nudge
from handlers.agenda.reminders import plan_item_reminders
from handlers.shared.occurrences import tz_of
from storage.agenda import DEADLINE, EVENT
from storage.agenda_models import AgendaItem

MOVED_ITEM_PREFIX = "agenda:rescheduled:"

MSG_EVENT_MOVED = N_(
    "New date for event {id} “{title}”: {new} (instead of {old}). Reminders follow the new "
    "date; answers given on the announcement stand, change them there if needed."
)
MSG_DEADLINE_MOVED = N_(
    "New date for deadline {id} “{title}”: {new} (instead of {old}). Reminders follow the new date."
)
MSG_SAME_DATE = N_("{id} “{title}” is already on {when}. Give another date, e.g. {example}.")
MSG_OTHER_DAY = N_("{id} is on {date}, not on {given}. To move {id}, write {example}.")


def move_item(ctx: Context, item: AgendaItem, when_text: str, new_start: datetime) -> None:
    """Move a one-off item; ``when_text``, if given, must name its current day."""
    tz, now = tz_of(item), ctx.clock.now()
    example = f"!déplacer {label(item)} ; {'vendredi 18h' if item.kind == EVENT else '30 juin'}"
    if when_text:
        day = parse_when(
            when_text, now=now, tz=tz, language=ctx.language, default_time=time(23, 59)
        ).astimezone(tz)
        if day.date() != item.starts_at.astimezone(tz).date():
            raise UserError(
                MSG_OTHER_DAY,
                id=label(item),
                date=format_day(item.starts_at.astimezone(tz).date(), language=ctx.language),
                given=format_day(day.date(), language=ctx.language),
                example=example,
            )
    if new_start == item.starts_at:
        raise UserError(
            MSG_SAME_DATE,
            id=label(item),
            title=item.title,
            when=format_when(new_start, tz=tz, language=ctx.language),
            example=example,
        )
    old_start = item.starts_at
    if item.ends_at is not None:
        item.ends_at = new_start + (item.ends_at - old_start)
    item.starts_at = new_start
    ctx.session.add(item)
    _plan_again(ctx, item, now)
    rendered = ctx.renderer.text(
        ctx.language,
        MSG_EVENT_MOVED if item.kind == EVENT else MSG_DEADLINE_MOVED,
        id=label(item),
        title=item.title,
        new=format_when(new_start, tz=tz, language=ctx.language),
        old=format_when(old_start, tz=tz, language=ctx.language),
    )
    content = notice_content(rendered, thread_root=ctx.thread_root)
    ctx.send(f"{MOVED_ITEM_PREFIX}{ctx.event_id}", content)


def _plan_again(ctx: Context, item: AgendaItem, now: datetime) -> None:
    """Drop the item's pending reminders (and nudge), plan those of its new date."""
    ctx.timers.cancel(ctx.session, f"reminder:{label(item)}:")
    offsets = read_offsets(item.reminders) if item.reminders else []
    planned, _past = plan_reminders(item.starts_at, offsets, now=now, tz=tz_of(item))
    stamp = f"{start_stamp(item.starts_at)}:"
    plan_item_reminders(ctx, item, planned, stamp=stamp)
    if item.kind == DEADLINE and ctx.room.nudges:
        plan_deadline_nudge(ctx, item, label(item), now, stamp=stamp)
