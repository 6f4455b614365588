"""Posting a room's digest: exactly once per room and week, by its weekly task or by hand.

A digest run is recorded per room and week (unique) in the same transaction as its messages
are queued (outbox keys ``digest:<room>:<week>:part<N>``), so restarts cannot post twice.
When the weekly task fires it posts the digest and schedules the next week's task in that same
transaction; a task that still fires for a week already published by hand posts nothing.
The shared digest then gathers the week, in that transaction too (``handlers.digest.shared``).
"""

from __future__ import annotations

from sqlmodel import Session

from bot.runtime.kit import Services
from bot.runtime.messages import notice_content
from bot.runtime.room_settings import RoomView
from bot.runtime.timers import TaskRun
from bot.text.dates import format_when
from bot.text.i18n import N_
from handlers.digest.build import build_digest, member_names, room_view
from handlers.digest.messages import RoomMessage
from handlers.digest.model import RoomDigest, period_start
from handlers.digest.schedule import RoomSchedules, schedule_of, task_key
from handlers.digest.shared import SharedDigest
from storage.digest_models import DigestRun
from storage.digests import DigestRepository
from storage.models import ScheduledTask

MISSED = N_("weekly digest of week {week} (due {when})")


class Publisher:
    """Posts rooms' digests, then hands the week over to the shared digest."""

    def __init__(self, services: Services, schedules: RoomSchedules, shared: SharedDigest) -> None:
        self.services = services
        self.schedules = schedules
        self.shared = shared

    def post(
        self,
        session: Session,
        room: RoomView,
        digest: RoomDigest,
        *,
        trigger: str,
        published_by: str | None,
        late: str = "",
    ) -> DigestRun:
        """Queue the digest's parts and record the run (its guard against a second post)."""
        message = RoomMessage(self.services.renderer, room.language, digest, late=late)
        parts = message.parts()
        for index, rendered in enumerate(parts, 1):
            self.services.outbox.enqueue(
                session,
                key=f"{task_key(room.room_id, digest.week)}:part{index}",
                room_id=room.room_id,
                content=notice_content(rendered),
            )
        return DigestRepository(session).add(
            room_id=room.room_id,
            week=digest.week,
            period_start=digest.start,
            period_end=digest.end,
            trigger=trigger,
            published_by=published_by,
            parts=len(parts),
            created_at=self.services.clock.now(),
        )

    async def fire(self, run: TaskRun) -> None:
        """The weekly task: post the week's digest unless published already, plan the next."""
        task, session = run.task, run.session
        room = room_view(session, task.room_id, self.services.config.bot)
        week = str(task.payload.get("week") or task.key.rsplit(":", 1)[-1])
        repository = DigestRepository(session)
        if schedule_of(room) is None:
            return
        targets = await self.shared.prepare(session, week, [room.room_id])
        posted = None
        if repository.get(room.room_id, week) is None:
            last = repository.last(room.room_id)
            start = period_start(task.due_at, room.tz, last.period_end if last else None)
            digest = build_digest(
                session,
                room,
                week=week,
                start=start,
                end=task.due_at,
                display_name=member_names(self.services.gateway, room.room_id),
            )
            late = ""
            if run.is_late:
                late = format_when(task.due_at, tz=room.tz, language=room.language)
            posted = self.post(
                session, room, digest, trigger="schedule", published_by=None, late=late
            )
        now = self.services.clock.now()
        self.schedules.ensure_room(session, room, max(task.due_at, now), keep=task.key)
        self.shared.gather(session, week, targets=targets, posted=posted)

    def describe_missed(self, task: ScheduledTask, language: str) -> str:
        """How a digest task missed during downtime is listed (digests never are: no grace)."""
        with self.services.database.session() as session:
            room_tz = room_view(session, task.room_id, self.services.config.bot).tz
        when = format_when(task.due_at, tz=room_tz, language=language)
        week = str(task.payload.get("week") or "")
        return self.services.translations.for_language(language).render(
            MISSED, week=week, when=when
        )
