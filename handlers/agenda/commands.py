"""Events and deadlines: announce them, count RSVPs, remind people in time, list and export them.

- `!événement` / `!échéance` (organisers) store the item, send the announcement (an m.notice
  that repeats the date in words, the ID and the planned reminders) and schedule one timer per
  reminder offset (`reminder:E7:1d`). The announcement's event ID is learnt from the outbox
  (sent hook), so reactions on it can be read as RSVPs (✅ 🤔 ❌).
- Reminders (`handlers/event_reminders.py`) are m.text with explicit mentions (the ✅ people
  for events, nobody for deadlines); those due together in a room go out as one message.
- `!agenda [ics]` (`handlers/agenda_view.py`) lists what is coming, or sends it as an
  iCalendar file; `!annuler <id>` cancels an item and its pending reminders. Other features
  (polls) plug their own ID prefixes into `!annuler` through the kit's links
  (``Feature.cancellers``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.runtime.context import Context
from bot.runtime.kit import Canceller, Feature, Hooks, Services
from bot.runtime.messages import notice_content
from bot.runtime.room_settings import RoomView
from bot.runtime.router import Command, Permission
from bot.runtime.timers import TaskKind
from bot.text.dates import format_duration, format_offset, format_when
from bot.text.errors import UserError
from bot.text.i18n import N_
from bot.text.recurrence import describe_days, describe_rule, last_occurrence
from handlers.agenda import exceptions, series
from handlers.agenda.args import (
    KINDS,
    Draft,
    label,
    parse_draft,
    plan_reminders,
)
from handlers.agenda.feed import FEED_KIND, CalendarFeed, Subscription
from handlers.agenda.from_poll import draft_from_poll, poll_number
from handlers.agenda.nudges import DEADLINE_NUDGE_KIND, DeadlineNudger, plan_deadline_nudge
from handlers.agenda.reminders import REMINDER_KINDS, Reminders, plan_item_reminders
from handlers.agenda.view import AgendaView, read_agenda_format
from storage.agenda import DEADLINE, EVENT, AgendaRepository
from storage.agenda_models import AgendaItem
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

ANNOUNCE_PREFIX = "agenda:announce:"
REMINDER_SENT_PREFIX = "task:reminder:"
SHOWN_OCCURRENCES = 3  # the confirmation of a series names its next meetings
RSVP_KEYS = {"✅": "going", "🤔": "maybe", "❌": "not_going"}

# A feature that owns other short IDs (polls: "S") cancels them itself.


def rsvp_answer(key: str) -> str | None:
    """✅ / 🤔 / ❌ (with or without the emoji variation selector) → the answer, else None."""
    return RSVP_KEYS.get(key.replace("\ufe0f", "").strip())


class Agenda:
    """The feature's handlers, holding the services they need."""

    def __init__(self, services: Services, cancellers: Mapping[str, Canceller]) -> None:
        self.services = services
        # typed ID prefixes other features cancel (`S` for polls): read when used, as every
        # feature is built before the first command
        self.cancellers = cancellers

    # --- creation ------------------------------------------------------------------------

    async def evenement(self, ctx: Context) -> None:
        await self._create(ctx, EVENT, ctx.arguments)

    async def echeance(self, ctx: Context) -> None:
        await self._create(ctx, DEADLINE, ctx.arguments)

    async def _create(self, ctx: Context, kind: str, draft: Draft) -> None:
        if draft.series is not None:
            self._create_series(ctx, draft)
            return
        now = ctx.clock.now()
        tz = ctx.room.tz
        planned, skipped = plan_reminders(draft.starts_at, draft.offsets, now=now, tz=tz)
        item = _store_item(ctx, kind, draft, now)
        plan_item_reminders(ctx, item, planned)
        if kind == DEADLINE and ctx.room.nudges:  # rooms without nudges get no extra task
            plan_deadline_nudge(ctx, item, label(item), now)
        rendered = ctx.renderer.render(
            "events_announcement",
            ctx.language,
            **self._announcement_data(item, draft, ctx.room, now, planned, skipped),
        )
        ctx.send(
            f"{ANNOUNCE_PREFIX}{item.id}", notice_content(rendered, thread_root=ctx.thread_root)
        )

    def _create_series(self, ctx: Context, draft: Draft) -> None:
        """A recurring event: one row with its rule, and a timer for its next reminder only."""
        assert draft.series is not None
        now, tz, rule = ctx.clock.now(), ctx.room.tz, draft.series.rule
        item = _store_item(
            ctx,
            EVENT,
            draft,
            now,
            recurrence=rule.rrule_text(),
            last_at=last_occurrence(rule, draft.starts_at, tz),
        )
        series.arm(ctx.session, ctx.timers, item, after=(now, now))
        language = ctx.language
        coming = series.schedule(item, [], after=now)
        upcoming = [
            format_when(occurrence.starts_at, tz=tz, language=language)
            for occurrence, _ in zip(coming, range(SHOWN_OCCURRENCES), strict=False)
        ]
        data = {
            **self._announcement_data(item, draft, ctx.room, now, [], []),
            "repeats": describe_rule(rule, draft.starts_at, tz, language=language),
            "upcoming": upcoming,
            "reminders": [format_offset(offset, language=language) for offset in draft.offsets],
        }
        rendered = ctx.renderer.render("events_announcement", language, **data)
        ctx.send(
            f"{ANNOUNCE_PREFIX}{item.id}", notice_content(rendered, thread_root=ctx.thread_root)
        )

    def arm_all_series(self) -> None:
        """At start, after the timers' rebuild: every series without a pending reminder (a
        missed one was just reported) is armed for its next reminder from now."""
        with self.services.database.session() as session:
            series.arm_all(session, self.services.timers, self.services.clock.now())

    def _announcement_data(
        self,
        item: AgendaItem,
        draft: Draft,
        room: RoomView,
        now: datetime,
        planned: list[Any],
        skipped: list[timedelta],
    ) -> dict[str, Any]:
        language, tz = room.language, room.tz
        return {
            "kind": item.kind,
            "label": label(item),
            "title": item.title,
            "when": format_when(item.starts_at, tz=tz, language=language),
            "end": format_when(item.ends_at, tz=tz, language=language) if item.ends_at else "",
            "place": item.place or "",
            "link": item.link or "",
            "countdown": format_duration(item.starts_at - now, language=language),
            "reminders": [format_offset(r.offset, language=language) for r in planned],
            "skipped": [format_offset(offset, language=language) for offset in skipped],
            "asked_reminders": bool(draft.offsets),
            "repeats": "",
            "upcoming": [],
        }

    def on_announced(self, session: Session, message: OutboxMessage) -> None:
        """Remember which Matrix event announces which item (reactions on it are RSVPs)."""
        item_id = message.key.removeprefix(ANNOUNCE_PREFIX)
        if item_id.isdigit() and message.event_id:
            AgendaRepository(session).mark_announced(int(item_id), message.event_id)

    def on_occurrence_message_sent(self, session: Session, message: OutboxMessage) -> None:
        """A message about one occurrence was sent: reactions on it answer for that one."""
        if message.event_id:
            AgendaRepository(session).mark_occurrence_message_sent(message.key, message.event_id)

    # --- RSVPs ---------------------------------------------------------------------------

    async def on_reaction(self, ctx: Context, target_event_id: str, key: str) -> None:
        answer = rsvp_answer(key)
        if answer is None:
            return
        repository = AgendaRepository(ctx.session)
        occurs_at = None
        about_one = repository.get_occurrence_message(target_event_id)
        if about_one is not None:  # a reminder or a move of one occurrence of a series
            item, occurs_at = repository.get(about_one.item_id), about_one.occurs_at
            if item is not None and item.room_id != ctx.room_id:
                return
        else:
            item = repository.get_by_announcement(ctx.room_id, target_event_id)
            if item is not None and item.recurrence:
                occurs_at = item.starts_at  # the announcement of a series: its first meeting
        if item is None or item.kind != EVENT or item.status != "active" or item.id is None:
            return
        repository.add_rsvp(item.id, ctx.sender, answer, ctx.event_id, ctx.origin_ts, occurs_at)

    async def on_redaction(self, ctx: Context, redacted_event_id: str) -> None:
        AgendaRepository(ctx.session).delete_rsvp_by_reaction(redacted_event_id)

    # --- cancellation --------------------------------------------------------------------

    def read_item_id(self, ctx: Context) -> tuple[str, int, str]:
        """`!annuler` arguments: a short ID (`E7`, `d 3`, `S2`) of a kind that can be cancelled,
        and for a recurring event optionally the date of one meeting (`E12 le 15 décembre`)."""
        parsed = exceptions.split_occurrence(ctx.args)
        if parsed is None:
            raise UserError(
                "Give the ID of what to cancel, e.g. {example}. IDs here: {ids}.",
                example="!annuler E7",
                ids=ids_here(ctx),
            )
        if parsed[0] not in KINDS and parsed[0] not in self.cancellers:
            raise UserError(
                "“{text}” is not an ID that can be cancelled. Valid IDs start with {prefixes}; "
                "here: {ids}.",
                text=ctx.args.strip(),
                prefixes=", ".join(sorted({*KINDS, *self.cancellers})),
                ids=ids_here(ctx),
            )
        if parsed[2] and parsed[0] != "E":
            raise UserError(
                "Only a meeting of a recurring event is cancelled by its date, e.g. {example}. "
                "To cancel {id}, write {plain}.",
                example="!annuler E12 le 15 décembre",
                id=f"{parsed[0]}{parsed[1]}",
                plain=f"!annuler {parsed[0]}{parsed[1]}",
            )
        return parsed

    async def annuler(self, ctx: Context) -> None:
        prefix, number, meeting = ctx.arguments
        if prefix in self.cancellers:  # another feature's ID (`S2`: a poll)
            await self.cancellers[prefix](ctx, number)
            return
        if meeting:  # `E12 le 15 décembre`: one meeting of a series
            await exceptions.cancel_meeting(ctx, number, meeting)
            return
        kind = KINDS[prefix]
        repository = AgendaRepository(ctx.session)
        item = repository.get_in_room(number, ctx.room_id, kind)
        if item is None:
            raise UserError(
                "There is no {id} in this room. IDs here: {ids}.",
                id=f"{prefix}{number}",
                ids=ids_here(ctx),
            )
        if item.status == "cancelled":
            raise UserError("{id} is already cancelled.", id=label(item))
        if item.author != ctx.sender and not await ctx.is_organiser():
            raise UserError(
                "Only organisers or the person who announced {id} can cancel it.", id=label(item)
            )
        repository.mark_cancelled(item, ctx.clock.now())
        ctx.timers.cancel(ctx.session, f"reminder:{label(item)}:")
        when = format_when(item.starts_at, tz=ctx.room.tz, language=ctx.language)
        rule = series.rule_of(item)
        if rule is not None:
            ctx.reply(
                "Recurring event {id} “{title}” ({rule}) is cancelled, with all its meetings; "
                "its reminders will not be sent.",
                id=label(item),
                title=item.title,
                rule=describe_days(rule, language=ctx.language),
            )
        elif item.kind == EVENT:
            ctx.reply(
                "Event {id} “{title}” ({when}) is cancelled; its reminders will not be sent.",
                id=label(item),
                title=item.title,
                when=when,
            )
        else:
            ctx.reply(
                "Deadline {id} “{title}” ({when}) is cancelled; its reminders will not be sent.",
                id=label(item),
                title=item.title,
                when=when,
            )


def _store_item(
    ctx: Context, kind: str, draft: Draft, now: datetime, **recurring: Any
) -> AgendaItem:
    """The announced item as stored, with every reminder offset asked, past ones too (a move
    to a later date plans them again); ``recurring``: a series' rule and last meeting."""
    return AgendaRepository(ctx.session).add(
        AgendaItem(
            kind=kind,
            room_id=ctx.room_id,
            title=draft.title,
            starts_at=draft.starts_at,
            ends_at=draft.ends_at,
            place=draft.place,
            link=draft.link,
            reminders=", ".join(format_offset(offset, language="fr") for offset in draft.offsets),
            timezone=ctx.room.timezone,
            author=ctx.sender,
            created_at=now,
            **recurring,
        )
    )


def ids_here(ctx: Context) -> str:
    """The IDs of what is coming in the room, for refusals that need a valid one."""
    items = AgendaRepository(ctx.session).list_upcoming(ctx.room_id, ctx.clock.now())
    if not items:
        return ctx.t(N_("none planned"))
    return ", ".join(label(item) for item in items)


def read_event(ctx: Context) -> Draft:
    poll_id = poll_number(ctx.args)
    if poll_id is not None:  # `!événement depuis S4`: a meeting poll's best slot
        return draft_from_poll(
            ctx.session,
            ctx.room_id,
            poll_id,
            now=ctx.clock.now(),
            default_reminders=ctx.room.event_reminders,
        )
    return _read_draft(ctx, EVENT, ctx.room.event_reminders)


def read_deadline(ctx: Context) -> Draft:
    return _read_draft(ctx, DEADLINE, ctx.room.deadline_reminders)


def _read_draft(ctx: Context, kind: str, default_reminders: str) -> Draft:
    return parse_draft(
        ctx.args,
        kind=kind,
        now=ctx.clock.now(),
        tz=ctx.room.tz,
        language=ctx.language,
        default_reminders=default_reminders,
    )


def feature(services: Services) -> Feature:
    """Commands, RSVP hooks, reminder timers and the announcement hook of the agenda."""
    agenda = Agenda(services, services.links.cancellers)
    subscription = Subscription(services, services.gateway)
    commands = [
        Command(
            name="événement",
            aliases=("event",),
            handler=agenda.evenement,
            arguments=read_event,
            summary=N_("announce an event; reminders before it"),
            usage=N_(
                "<title> ; <when> [; place: …] [; link: …] [; end: <when>] "
                "[; reminders: 7d, 1d, 1h]"
            ),
            examples=(
                N_("event Digital day ; May 11 9:30am ; place: MAME Tours"),
                N_("event Group meeting ; next tuesday 2pm ; end: 4pm ; reminders: 1d, 1h"),
                N_("event Working group ; every Tuesday at 6pm ; until June 30"),
                N_("event from S4"),
            ),
            permission=Permission.ORGANISERS,
            details=N_(
                "People answer with a reaction on the announcement: ✅ going, 🤔 maybe, "
                "❌ not going. Reminders ping those who answered ✅. Instead of a date, a rule "
                "makes a recurring event: every Tuesday at 6pm, every Monday and Thursday, "
                "every other Tuesday, first Thursday of the month, on the 15th of every month, "
                "every weekday; then from, until or N times. Each meeting has its own reminders "
                "and answers."
            ),
        ),
        Command(
            name="échéance",
            aliases=("deadline",),
            handler=agenda.echeance,
            arguments=read_deadline,
            summary=N_("announce a deadline; countdown reminders"),
            usage=N_("<title> ; <when> [; link: …] [; reminders: 14d, 7d, 1d]"),
            examples=(N_("deadline Contributions due ; June 30 11:59pm ; reminders: 7d, 1d"),),
            permission=Permission.ORGANISERS,
        ),
        Command(
            name="agenda",
            aliases=("upcoming",),
            handler=AgendaView(
                services.gateway, subscription.subscribe, subscription.new_link
            ).agenda,
            arguments=read_agenda_format,
            summary=N_("upcoming events and deadlines of this room, with their IDs and answers"),
            usage=N_("[ics | abonnement | nouveau-lien]"),
            examples=(N_("upcoming"), N_("upcoming ics"), N_("upcoming subscribe")),
            details=N_(
                "With ics, the bot sends the agenda as a calendar file (.ics). With abonnement "
                "(subscribe), it gives the links to subscribe to the room's agenda in a calendar "
                "app, which then follows every change; nouveau-lien (new-link, organisers) "
                "replaces them, and the old links stop working."
            ),
        ),
        Command(
            name="annuler",
            aliases=("cancel",),
            handler=agenda.annuler,
            arguments=agenda.read_item_id,
            summary=N_("cancel an event, a deadline or a poll (organisers or its author)"),
            usage=N_("<id> [<date of one meeting of a recurring event>]"),
            examples=(N_("cancel E7"), N_("cancel E12 December 15")),
            details=N_(
                "For a recurring event, the ID alone cancels the whole series; the ID and a "
                "date cancel that meeting only."
            ),
        ),
        Command(
            name="déplacer",
            aliases=("move",),
            handler=exceptions.move,
            arguments=exceptions.read_move,
            summary=N_(
                "move an event or a deadline, or one meeting of a recurring event (organisers "
                "or its author)"
            ),
            usage=N_("<id> [<date of the meeting>] ; <new date>"),
            examples=(
                N_("move E3 ; Friday June 19 6pm"),
                N_("move D2 ; July 15 11:59pm"),
                N_("move E12 December 15 ; Wednesday December 16 6pm"),
            ),
        ),
    ]
    reminders = Reminders(services)
    task_kinds = [
        TaskKind(
            name,
            reminders.fire,
            reminders.describe_missed,
            fire_together=reminders.fire_together,
        )
        for name in REMINDER_KINDS.values()
    ]
    nudger = DeadlineNudger(
        services.outbox,
        services.renderer,
        services.gateway,
        services.config.bot,
        services.config.matrix.user_id,
    )
    task_kinds.append(TaskKind(DEADLINE_NUDGE_KIND, nudger.fire, nudger.describe_missed))
    return Feature(
        commands=commands,
        hooks=Hooks(reactions=[agenda.on_reaction], redactions=[agenda.on_redaction]),
        task_kinds=task_kinds,
        sent_hooks=[
            (ANNOUNCE_PREFIX, agenda.on_announced),
            (REMINDER_SENT_PREFIX, agenda.on_occurrence_message_sent),
            (exceptions.MOVED_PREFIX, agenda.on_occurrence_message_sent),
        ],
        after_timers=[agenda.arm_all_series],
        pages={FEED_KIND: CalendarFeed(services.config.bot)},
    )
