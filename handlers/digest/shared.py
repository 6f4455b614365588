"""The shared digest: every room's digest of a week gathered into the shared digest rooms and
into the week's Markdown and HTML files.

Each room's digest goes to its shared room (`salon-résumé`, else the configured
``bot.digest_room``). For each shared room and week, the gathered digest is posted once
(outbox keys ``shared:<room>:<week>:part<N>``):

- as soon as every room gathered there has posted its digest of the week;
- else when the wait is over (``bot.shared_digest_wait_hours`` after the week ends, a timer
  task): with the digests posted so far, naming the rooms whose digest is still to come and
  when. Rooms overdue at that moment (the bot was down) are waited for: they fire next. A
  shared room with no digest in yet gets its gathered digest with the first one posted.

Its readers expect it at a known time each week: one group with a late schedule must not hold
back everybody's.

A room's digest posted after that follows in the shared room as an addition (keys
``shared:<room>:<week>:run<N>-part<N>``, in the same order group), queued in the transaction
that records the room's digest: so each room's digest reaches the shared room exactly once,
even across crashes. The week's files are rewritten after every room digest and when the wait
is over. Kept apart from the room's own digest because it reads every room.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.runtime.kit import FeatureGateway, Services
from bot.runtime.messages import notice_content
from bot.runtime.timers import TaskRun
from bot.text.dates import format_when
from bot.text.i18n import N_
from handlers.digest import files as digest_files
from handlers.digest.build import build_digest, member_names, room_view
from handlers.digest.messages import SharedMessage
from handlers.digest.model import PendingRoom, RoomDigest
from handlers.digest.schedule import RoomSchedules
from storage.digest_models import DigestRun
from storage.digests import DigestRepository
from storage.models import ScheduledTask
from storage.outbox import OutboxRepository
from storage.state import StateRepository

log = logging.getLogger(__name__)

MISSED = N_("shared digest of week {week} (due {when})")


class RoomNames:
    """Room names (for tables of contents and files) and room aliases, asked of the homeserver.

    A missing name or alias is not worth failing a digest: the room ID stands in for it.
    """

    def __init__(self, gateway: FeatureGateway) -> None:
        self.gateway = gateway
        self.names: dict[str, str] = {}
        self.aliases: dict[str, str] = {}  # room alias → room ID, as last looked up

    async def room_name(self, room_id: str) -> str:
        if room_id not in self.names:
            name = await self.gateway.room_name(room_id)
            self.names[room_id] = name or room_id
        return self.names[room_id]

    async def resolve_room(self, target: str) -> str:
        """A room ID for a `salon-résumé` value (room IDs as is, aliases looked up)."""
        if not target.startswith("#"):
            return target
        self.aliases[target] = await self.gateway.resolve_alias(target) or ""
        return self.aliases[target]

    def known_room(self, target: str, session: Session) -> str:
        """The room ID of a `salon-résumé` value without asking the homeserver: aliases as
        last resolved (kept in the database, so a restart does not forget them)."""
        if not target.startswith("#"):
            return target
        if target not in self.aliases:
            self.aliases[target] = StateRepository(session).get(alias_key(target)) or ""
        return self.aliases[target]

    def remember(self, session: Session) -> None:
        """Keep the aliases resolved so far for `known_room` after a restart."""
        state = StateRepository(session)
        for alias, room_id in self.aliases.items():
            key = alias_key(alias)
            if room_id and len(key) <= ALIAS_KEY_LENGTH and state.get(key) != room_id:
                state.set(key, room_id)


ALIAS_KEY_LENGTH = 100  # the key-value table's key


def alias_key(alias: str) -> str:
    return f"digest-room-alias:{alias}"


class SharedDigest:
    """Gathers the rooms' digests of a week into the shared rooms and the week's files."""

    def __init__(self, services: Services, schedules: RoomSchedules) -> None:
        self.services = services
        self.schedules = schedules
        self.rooms = RoomNames(services.gateway)

    def pending(self, session: Session, week: str) -> list[ScheduledTask]:
        """The digest tasks of rooms whose digest of the week is still to come."""
        repository = DigestRepository(session)
        tasks = [repository.task(key) for key in repository.pending_keys_for_week(week)]
        return [t for t in tasks if t is not None and repository.get(t.room_id, week) is None]

    async def prepare(
        self, session: Session, week: str, rooms: Iterable[str] = ()
    ) -> dict[str, str]:
        """Names of the week's rooms, and the room ID of each `salon-résumé` value they use.

        Asked of the homeserver before the caller's transaction writes anything, so nothing
        else waits on the network for it.
        """
        defaults = self.services.config.bot
        runs = DigestRepository(session).list_week(week)
        room_ids = [run.room_id for run in runs] + [t.room_id for t in self.pending(session, week)]
        targets: dict[str, str] = {}
        for room_id in dict.fromkeys([*room_ids, *rooms]):
            await self.rooms.room_name(room_id)
            value = room_view(session, room_id, defaults).digest_room
            if value and value not in targets:
                targets[value] = await self.rooms.resolve_room(value)
        self.rooms.remember(session)
        return targets

    async def fire(self, run: TaskRun) -> None:
        """The wait is over: gather the week's digests for every shared room still waiting."""
        week = str(run.task.payload.get("week") or run.task.key.rsplit(":", 1)[-1])
        targets = await self.prepare(run.session, week)
        self.gather(run.session, week, targets=targets)

    def describe_missed(self, task: ScheduledTask, language: str) -> str:
        """How a shared digest task missed during downtime is listed (never: no grace)."""
        when = format_when(
            task.due_at, tz=ZoneInfo(self.services.config.bot.timezone), language=language
        )
        week = str(task.payload.get("week") or "")
        return self.services.translations.for_language(language).render(
            MISSED, week=week, when=when
        )

    def gather(
        self,
        session: Session,
        week: str,
        *,
        targets: Mapping[str, str],
        posted: DigestRun | None = None,
    ) -> None:
        """Rewrite the week's files, then queue what each shared room is due: the gathered
        digest once it stops waiting, or the room digest just ``posted`` if it comes after."""
        defaults = self.services.config.bot
        runs = DigestRepository(session).list_week(week)
        if not runs:
            return
        pending = self.pending(session, week)
        try:
            self.write_files(session, week, pending)
        except OSError:
            log.exception("could not write the digest files of %s", week)

        def target_of(room_id: str) -> str:
            return targets.get(room_view(session, room_id, defaults).digest_room, "")

        runs_by_target: dict[str, list[DigestRun]] = {}
        for digest_run in runs:
            if target := target_of(digest_run.room_id):
                runs_by_target.setdefault(target, []).append(digest_run)
        waiting: dict[str, list[ScheduledTask]] = {}
        for task in pending:
            if target := target_of(task.room_id):
                waiting.setdefault(target, []).append(task)
        now = self.services.clock.now()
        wait_over = now >= self.schedules.shared_due(week)
        digests: dict[str, RoomDigest] = {}
        outbox = OutboxRepository(session)
        for target, gathered in runs_by_target.items():
            key = f"shared:{target}:{week}"
            if outbox.get_by_key(f"{key}:part1") is not None:
                if posted is not None and posted.id in {r.id for r in gathered}:
                    addition = self._message(session, target, week, [posted], digests)
                    self._enqueue(session, target, f"{key}:run{posted.id}-", addition)
                continue
            to_come = waiting.get(target, [])
            if to_come and not (wait_over and all(task.due_at > now for task in to_come)):
                continue  # still waiting for a room, or an overdue one fires next
            shared = self._message(session, target, week, gathered, digests, to_come)
            self._enqueue(session, target, f"{key}:", shared)

    def _message(
        self,
        session: Session,
        target: str,
        week: str,
        runs: list[DigestRun],
        digests: dict[str, RoomDigest],
        to_come: list[ScheduledTask] | None = None,
    ) -> SharedMessage:
        """The shared digest for one shared room, naming the rooms ``to_come``; without them,
        an addition to it."""
        view = room_view(session, target, self.services.config.bot)
        for digest_run in runs:
            if digest_run.room_id not in digests:
                digests[digest_run.room_id] = self.room_digest(session, digest_run)
        return SharedMessage(
            self.services.renderer,
            view.language,
            week,
            [digests[digest_run.room_id] for digest_run in runs],
            missing=self.missing(to_come or [], view.tz, view.language),
            addition=to_come is None,
        )

    def _enqueue(self, session: Session, target: str, prefix: str, message: SharedMessage) -> None:
        for index, rendered in enumerate(message.parts(), 1):
            self.services.outbox.enqueue(
                session,
                key=f"{prefix}part{index}",
                room_id=target,
                content=notice_content(rendered),
            )

    def missing(self, tasks: list[ScheduledTask], tz: ZoneInfo, language: str) -> list[PendingRoom]:
        """The rooms of these digest tasks, named, with when their digest is due."""
        return [
            PendingRoom(
                task.room_id,
                self.rooms.names.get(task.room_id, task.room_id),
                format_when(task.due_at, tz=tz, language=language),
            )
            for task in tasks
        ]

    def room_digest(self, session: Session, digest_run: DigestRun) -> RoomDigest:
        """A room's digest of the week, rebuilt over the period it covered (every proposal)."""
        room = room_view(session, digest_run.room_id, self.services.config.bot)
        return build_digest(
            session,
            room,
            week=digest_run.week,
            start=digest_run.period_start,
            end=digest_run.period_end,
            display_name=member_names(self.services.gateway, digest_run.room_id),
            room_name=self.rooms.names.get(digest_run.room_id, digest_run.room_id),
        )

    def write_files(self, session: Session, week: str, pending: list[ScheduledTask]) -> None:
        """The week's Markdown and HTML files: every digest so far, then who is still to come."""
        config = self.services.config
        runs = DigestRepository(session).list_week(week)
        digests = [self.room_digest(session, digest_run) for digest_run in runs]
        activity = digest_files.activity(
            DigestRepository(session), digests, week, config.bot.timezone, self.rooms.names
        )
        digest_files.write_week(
            config.data_path / "digests",
            week,
            digests,
            activity,
            renderer=self.services.renderer,
            language=config.bot.language,
            missing=self.missing(pending, ZoneInfo(config.bot.timezone), config.bot.language),
        )
