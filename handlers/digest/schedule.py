"""When each room's digest is due: one pending timer task per room, kept in step with settings.

Each joined room has one pending ``digest`` task keyed ``digest:<room>:<year>-W<week>``, due at
the room's slot (`!réglages résumé`, default Monday 09:00 in the room's timezone). The task
exists from the bot's start, from the room's first activity after a join, and follows
`!réglages résumé …`/`fuseau …` at once; `résumé off` cancels it.

Each week with room digests also has one ``digest_shared:<year>-W<week>`` task, due when the
shared digest of that week stops waiting for late rooms (``bot.shared_digest_wait_hours`` after
the week ends, in the bot's timezone).

Kept apart from posting so the rules about which week comes next can be read on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.runtime.config import Config
from bot.runtime.context import Context
from bot.runtime.room_settings import RoomView
from bot.runtime.timers import Timers
from handlers.digest.build import room_view
from handlers.digest.model import (
    Schedule,
    next_slot,
    period_start,
    shared_due,
    slot_label,
    week_label,
)
from handlers.shared.schedule import parse_digest_schedule
from storage.digests import TASK_KIND, DigestRepository

SHARED_TASK_KIND = "digest_shared"
RECENT = timedelta(days=14)  # weeks whose shared digest task is checked at start


@dataclass(frozen=True)
class Target:
    """The digest a room would post now: its week, period and (scheduled) slot."""

    week: str
    start: datetime
    slot: datetime | None  # None when the room's digest is off


def schedule_of(room: RoomView) -> Schedule | None:
    """The room's digest schedule, or None when its digest is off."""
    parsed = parse_digest_schedule(room.digest_schedule)
    return None if parsed is None else Schedule(parsed.weekday, parsed.hour, parsed.minute)


def task_key(room_id: str, week: str) -> str:
    """The key of a room's digest task of a week; its outbox keys start with it too."""
    return f"{TASK_KIND}:{room_id}:{week}"


def shared_task_key(week: str) -> str:
    return f"{SHARED_TASK_KIND}:{week}"


def upcoming_slot(
    repository: DigestRepository, room: RoomView, schedule: Schedule, after: datetime
) -> tuple[datetime, str]:
    """The next slot after ``after`` whose week has not been published yet."""
    slot = next_slot(after, schedule, room.tz)
    for _ in range(4):
        label = slot_label(slot, room.tz)
        if repository.get(room.room_id, label) is None:
            return slot, label
        slot = next_slot(slot, schedule, room.tz)
    return slot, slot_label(slot, room.tz)


def current_target(session: Session, room: RoomView, now: datetime) -> Target:
    """What `!résumé` shows and `!résumé publier` posts: the room's next digest, so far."""
    repository = DigestRepository(session)
    last = repository.last(room.room_id)
    last_end = last.period_end if last is not None else None
    schedule = schedule_of(room)
    if schedule is None:
        start = period_start(now, room.tz, last_end)
        return Target(week_label(now.astimezone(room.tz)), min(start, now), None)
    slot = next_slot(now, schedule, room.tz)
    return Target(slot_label(slot, room.tz), min(period_start(slot, room.tz, last_end), now), slot)


class RoomSchedules:
    """Keeps every room's pending digest task where its schedule says."""

    def __init__(self, config: Config, timers: Timers) -> None:
        self.config = config
        self.timers = timers
        self.ensured: set[str] = set()  # rooms whose task was checked since the start

    def ensure_room(
        self,
        session: Session,
        room: RoomView,
        now: datetime,
        keep: str = "",
        weeks_ensured: set[str] | None = None,
    ) -> None:
        """Make the room's pending digest task match its schedule (none when it is off).
        ``weeks_ensured``: the weeks whose shared digest task this pass already checked (at
        start a thousand rooms share the same coming week)."""
        timers = self.timers
        repository = DigestRepository(session)
        pending = repository.pending_tasks(room.room_id)
        schedule = schedule_of(room)
        wanted = ""
        if schedule is not None:
            slot, label = upcoming_slot(repository, room, schedule, now)
            wanted = task_key(room.room_id, label)
        for task in pending:
            if task.key not in (wanted, keep):
                timers.cancel(session, task.key)
        if schedule is None:
            return
        existing = next((t for t in pending if t.key == wanted), None) or repository.task(wanted)
        if existing is not None and existing.status == "pending" and existing.due_at == slot:
            pass  # as it should be: its timer is armed already
        elif existing is not None and existing.status not in ("pending", "cancelled"):
            return  # that week was handled already
        else:  # new, cancelled (revived) or moved: planned at its slot
            if existing is not None and existing.status == "cancelled":
                repository.revive_task(existing, slot)
            elif existing is not None:
                existing.due_at = slot
                session.add(existing)
            timers.add(
                session,
                key=wanted,
                kind=TASK_KIND,
                room_id=room.room_id,
                due_at=slot,
                payload={"week": label},
            )
        if weeks_ensured is None or label not in weeks_ensured:
            self.ensure_week(session, label)
            if weeks_ensured is not None:
                weeks_ensured.add(label)

    def shared_due(self, week: str) -> datetime:
        """When the shared digest of ``week`` stops waiting for late rooms."""
        bot = self.config.bot
        return shared_due(week, bot.shared_digest_wait_hours, ZoneInfo(bot.timezone))

    def ensure_week(self, session: Session, week: str) -> None:
        """The week's shared digest task exists and is due as configured (unless it fired)."""
        due = self.shared_due(week)
        existing = DigestRepository(session).task(shared_task_key(week))
        if existing is not None and existing.status != "pending":
            return
        if existing is not None and existing.due_at != due:
            existing.due_at = due
            session.add(existing)
        self.timers.add(
            session,
            key=shared_task_key(week),
            kind=SHARED_TASK_KIND,
            room_id="",
            due_at=due,
            payload={"week": week},
        )

    def ensure_all(self, session: Session, now: datetime) -> None:
        """At start: every joined room has its digest task (left rooms stay without one), and
        every recent week with digests its shared digest task (older versions had none)."""
        repository = DigestRepository(session)
        weeks_ensured = set(repository.weeks_since(now - RECENT))
        for week in weeks_ensured:
            self.ensure_week(session, week)
        for room_id in repository.joined_rooms():
            room = room_view(session, room_id, self.config.bot)
            latest = repository.latest_task(room_id)
            if (
                latest is not None
                and latest.status == "cancelled"
                and not repository.pending_tasks(room_id)
                and schedule_of(room)
            ):
                continue  # cancelled with the schedule on: the bot left the room
            self.ensure_room(session, room, now, weeks_ensured=weeks_ensured)
            self.ensured.add(room_id)

    def follow_settings(self, ctx: Context, values: dict[str, object]) -> None:
        """Called by `!réglages` after a change of the digest schedule or timezone."""
        room = ctx.room
        if "digest_schedule" in values:
            room = replace(room, digest_schedule=str(values["digest_schedule"]))
        if "timezone" in values:
            room = replace(room, timezone=str(values["timezone"]))
        self.ensure_room(ctx.session, room, ctx.clock.now())

    async def on_activity(self, ctx: Context, *_: Any) -> None:
        """A room's first activity after the bot's start or join gets its digest task."""
        if ctx.room_id in self.ensured:
            return
        self.ensured.add(ctx.room_id)
        if not DigestRepository(ctx.session).pending_tasks(ctx.room_id):
            self.ensure_room(ctx.session, ctx.room, ctx.clock.now())
