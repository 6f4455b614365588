"""`!agenda [ics]`: what is coming in a room, as a list with RSVP counts or as a calendar file
(`!agenda abonnement` / `nouveau-lien` go to the calendar feed, handlers/agenda/feed.py).

Kept apart from the announcing and cancelling commands (handlers/events.py): it only reads.
The calendar has stable UIDs (`event-E7@concerto`) so a calendar app updates rather than
duplicates, and times in the room's timezone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, vRecur
from icalendar import Event as CalendarEvent

from bot.runtime.context import Context
from bot.runtime.kit import FeatureGateway
from bot.runtime.router import fold
from bot.text.dates import format_duration, format_when
from bot.text.errors import UserError
from bot.text.recurrence import Rule, describe_days, utc
from handlers.agenda import series
from handlers.agenda.args import label
from storage.agenda import DEADLINE, AgendaRepository
from storage.agenda_models import AgendaItem, OccurrenceException

log = logging.getLogger(__name__)

CALENDAR_WORDS = ("ics", "ical", "icalendar")


def item_fields(item: AgendaItem, *, tz: ZoneInfo, language: str) -> dict[str, Any]:
    """What every message about an item shows: its kind, ID, title, date in words, place, link."""
    return {
        "kind": item.kind,
        "label": label(item),
        "title": item.title,
        "when": format_when(item.starts_at, tz=tz, language=language),
        "place": item.place or "",
        "link": item.link or "",
    }


LIST, FILE, SUBSCRIBE, NEW_LINK = "list", "file", "subscribe", "new-link"
AGENDA_WORDS = {
    "": LIST,
    **dict.fromkeys(CALENDAR_WORDS, FILE),
    **dict.fromkeys(("abonnement", "abonner", "subscribe", "subscription"), SUBSCRIBE),
    **dict.fromkeys(("nouveau-lien", "new-link"), NEW_LINK),
}


def read_agenda_format(ctx: Context) -> str:
    """`!agenda` arguments: nothing for the list, `ics` for a calendar file, `abonnement` for
    the calendar feed's links, `nouveau-lien` to replace them."""
    argument = fold(ctx.args.strip())
    if argument not in AGENDA_WORDS:
        raise UserError(
            "Unknown option “{text}”: write {plain} for the list, {ics} for a calendar file, "
            "{subscribe} to subscribe to the agenda in a calendar app.",
            text=ctx.args.strip(),
            plain="!agenda",
            ics="!agenda ics",
            subscribe="!agenda abonnement",
        )
    return AGENDA_WORDS[argument]


class AgendaView:
    def __init__(
        self,
        gateway: FeatureGateway,
        subscribe: Callable[[Context], Awaitable[None]],
        new_link: Callable[[Context], Awaitable[None]],
    ) -> None:
        self.gateway = gateway
        self.subscribe = subscribe  # the calendar feed's links (handlers/agenda/feed.py)
        self.new_link = new_link

    # --- agenda --------------------------------------------------------------------------

    async def agenda(self, ctx: Context) -> None:
        mode: str = ctx.arguments
        if mode == SUBSCRIBE:
            await self.subscribe(ctx)
            return
        if mode == NEW_LINK:
            await self.new_link(ctx)
            return
        as_calendar = mode == FILE
        now = ctx.clock.now()
        repository = AgendaRepository(ctx.session)
        items = repository.list_upcoming(ctx.room_id, now)
        if not items:
            ctx.reply(
                "Nothing planned in this room. Organisers announce events with {event} "
                "and deadlines with {deadline}.",
                event="!événement",
                deadline="!échéance",
            )
            return
        if as_calendar:
            await self._send_calendar(ctx, items, now)
            return
        language, tz = ctx.language, ctx.room.tz
        entries = []
        for item in items:
            assert item.id is not None
            starts_at, occurs_at, repeats = item.starts_at, None, ""
            rule = series.rule_of(item)
            if rule is not None:  # a series shows its next meeting, and that it repeats
                coming = series.next_occurrence(item, repository.exceptions(item.id), after=now)
                if coming is None:
                    continue
                starts_at, occurs_at = coming.starts_at, coming.original
                repeats = describe_days(rule, language=language)
            counts = repository.rsvp_counts(item.id, occurs_at)
            entries.append(
                {
                    **item_fields(item, tz=tz, language=language),
                    "when": format_when(starts_at, tz=tz, language=language),
                    "starts_at": starts_at,
                    "repeats": repeats,
                    "countdown": format_duration(starts_at - now, language=language),
                    "started": starts_at <= now,
                    "going": counts.get("going", 0),
                    "maybe": counts.get("maybe", 0),
                    "not_going": counts.get("not_going", 0),
                }
            )
        entries.sort(key=lambda entry: entry["starts_at"])
        ctx.reply_template("events_agenda", entries=entries)

    async def _send_calendar(self, ctx: Context, items: list[AgendaItem], now: datetime) -> None:
        repository = AgendaRepository(ctx.session)
        exceptions = {
            item.id: repository.exceptions(item.id)
            for item in items
            if item.recurrence and item.id is not None
        }
        data = agenda_calendar(items, tz=ctx.room.tz, now=now, exceptions=exceptions)
        filename = "agenda.ics"
        try:
            gateway = self.gateway
            location = await gateway.upload_file(
                data,
                content_type="text/calendar",
                filename=filename,
                encrypt=gateway.is_encrypted(ctx.room_id),
            )
        except Exception:
            log.exception("calendar upload failed", extra={"room_id": ctx.room_id})
            raise UserError(
                "The calendar file could not be uploaded right now; please try again later."
            ) from None
        content: dict[str, Any] = {
            "msgtype": "m.file",
            "body": filename,
            "filename": filename,
            **location,
            "info": {"mimetype": "text/calendar", "size": len(data)},
            "m.mentions": {},
        }
        if ctx.thread_root:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": ctx.thread_root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": ctx.event_id},
            }
        else:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": ctx.event_id}}
        ctx.send(f"ics:{ctx.event_id}", content)


def agenda_calendar(
    items: list[AgendaItem],
    *,
    tz: ZoneInfo,
    now: datetime,
    exceptions: Mapping[int, list[OccurrenceException]] | None = None,
    name: str = "",
) -> bytes:
    """An iCalendar file of the items: stable UIDs, times in the room's timezone.

    A recurring event is one VEVENT with its RRULE, an EXDATE per cancelled meeting, and one
    VEVENT per moved meeting (same UID, RECURRENCE-ID its original start), in the time zone
    of its rule (with its VTIMEZONE), so a calendar shows the meetings the bot reminds.
    """
    calendar = Calendar()
    calendar.add("prodid", "-//Concerto//agenda//FR")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if name:  # what calendar apps call a subscribed calendar
        calendar.add("x-wr-calname", name)
    for item in items:
        changes = (exceptions or {}).get(item.id or 0, [])
        rule = series.rule_of(item)
        if rule is None:
            calendar.add_component(_calendar_entry(item, item.starts_at.astimezone(tz), now))
            continue
        item_tz = series.tz_of(item)

        def wall(moment: datetime, rule: Rule = rule, item_tz: ZoneInfo = item_tz) -> datetime:
            """A meeting of the rule as calendars name it: the rule's wall time that day, even
            inside the spring gap (RFC 5545 reads it as the clocks do, an hour later)."""
            day = utc(moment).astimezone(item_tz).date()
            return datetime.combine(day, rule.clock, tzinfo=item_tz)

        entry = _calendar_entry(item, wall(item.starts_at), now)
        entry.add("rrule", calendar_rrule(rule, item_tz))
        cancelled = [wall(c.occurs_at) for c in changes if c.status == "cancelled"]
        if cancelled:
            entry.add("exdate", cancelled)
        calendar.add_component(entry)
        for change in changes:
            if change.status != "moved" or change.moved_to is None:
                continue
            moved = _calendar_entry(item, utc(change.moved_to).astimezone(item_tz), now)
            moved.add("recurrence-id", wall(change.occurs_at))
            calendar.add_component(moved)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def calendar_rrule(rule: Rule, tz: ZoneInfo) -> vRecur:
    """The stored rule as calendars read it: the wall time is DTSTART's (no BYHOUR/BYMINUTE),
    UNTIL in UTC (RFC 5545, with a DTSTART in a time zone)."""
    recur = vRecur.from_ical(rule.rrule_text())
    recur.pop("BYHOUR", None)
    recur.pop("BYMINUTE", None)
    if rule.until is not None:
        end_of_day = datetime.combine(rule.until, time(23, 59, 59)).replace(tzinfo=tz)
        recur["UNTIL"] = [end_of_day.astimezone(UTC)]
    return recur


def _calendar_entry(item: AgendaItem, starts_at: datetime, now: datetime) -> CalendarEvent:
    """One VEVENT of an item (or of one meeting of a series), starting at ``starts_at`` (local
    time in the calendar's zone); an end keeps the item's duration."""
    entry = CalendarEvent()
    entry.add("uid", f"{item.kind}-{label(item)}@concerto")
    entry.add("dtstamp", now.astimezone(UTC))
    entry.add("dtstart", starts_at)
    if item.ends_at is not None:
        # real time, as the item's own duration (aware arithmetic would add wall time)
        end = starts_at.astimezone(UTC) + (item.ends_at - item.starts_at)
        entry.add("dtend", end.astimezone(starts_at.tzinfo))
    entry.add("summary", item.title)
    if item.place:
        entry.add("location", item.place)
    if item.link:
        entry.add("url", item.link)
        entry.add("description", item.link)
    if item.kind == DEADLINE:
        entry.add("categories", ["DEADLINE"])
    if item.status == "cancelled":  # the calendar feed keeps cancelled items, marked
        entry.add("status", "CANCELLED")
    return entry
