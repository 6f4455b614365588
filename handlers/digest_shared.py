"""The shared digest: every room's digest of a week gathered into the shared digest rooms and
into the week's Markdown and HTML files.

After each posted room digest, the week's files are rewritten from all the rooms' digests of
that week (idempotent); when no room has a digest of that week still pending, the gathered
digest is posted once to each shared room (`salon-résumé`, else the configured
``bot.digest_room``; outbox keys ``shared:<room>:<week>:part<N>``). A room digest posted after
that only updates the files. Kept apart from the room's own digest because it reads every room.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlmodel import Session

from bot.messages import notice_content
from handlers import digest_files
from handlers.digest_build import ROOM_LIMIT_PER_TAG, build_digest, member_names, room_view
from handlers.digest_messages import SharedMessage
from handlers.digest_model import RoomDigest
from storage.digests import DigestRepository

if TYPE_CHECKING:  # avoids an import cycle with bot.app
    from bot.app import Services

log = logging.getLogger(__name__)

SHARED_RECHECK = timedelta(days=14)


class RoomNames:
    """Room names (for tables of contents and files) and room aliases, asked of the homeserver.

    A missing name or alias is not worth failing a digest: the room ID stands in for it.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.names: dict[str, str] = {}

    async def _state(self, path: str) -> dict[str, Any]:
        request = getattr(self.services.gateway, "request_json", None)
        if request is None:
            return {}
        try:
            status, body = await request("GET", path)
        except Exception:  # a missing name is not worth failing a digest
            log.warning("could not read %s", path)
            return {}
        return body if status == 200 else {}

    async def room_name(self, room_id: str) -> str:
        if room_id not in self.names:
            body = await self._state(f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.name")
            self.names[room_id] = str(body.get("name") or room_id)
        return self.names[room_id]

    async def resolve_room(self, target: str) -> str:
        """A room ID for a `salon-résumé` value (room IDs as is, aliases looked up)."""
        if not target.startswith("#"):
            return target
        body = await self._state(f"/_matrix/client/v3/directory/room/{quote(target)}")
        return str(body.get("room_id") or "")


class SharedDigest:
    """Gathers the rooms' digests of a week into the shared rooms and the week's files."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.rooms = RoomNames(services)

    async def after_post(self, session: Session, week: str, *, exclude: str) -> None:
        """Rewrite the week's files; post the gathered digest once every room has posted."""
        for run in DigestRepository(session).list_week(week):
            await self.rooms.room_name(run.room_id)  # names for the files and the shared message
        session.flush()
        try:
            self.write_files(session, week)
        except OSError:
            log.exception("could not write the digest files of %s", week)
        targets = {}
        for run in DigestRepository(session).list_week(week):
            target = room_view(session, run.room_id, self.services.config.bot).digest_room
            if target and target not in targets:
                targets[target] = await self.rooms.resolve_room(target)
        self.post_if_complete(session, week, self.services.clock.now(), exclude, targets)

    def recheck(self, now: datetime) -> None:
        """At start: post the gathered digests of recent weeks that became complete meanwhile."""
        with self.services.database.session() as session:
            weeks = DigestRepository(session).weeks_since(now - SHARED_RECHECK)
        for week in weeks:
            with self.services.database.session() as session:
                self.post_if_complete(session, week, now, exclude="")

    def week_digests(self, session: Session, week: str, limit: int | None) -> list[RoomDigest]:
        """Every room's digest of the week, rebuilt over the period each one covered."""
        digests = []
        for run in DigestRepository(session).list_week(week):
            room = room_view(session, run.room_id, self.services.config.bot)
            digests.append(
                build_digest(
                    session,
                    room,
                    week=week,
                    start=run.period_start,
                    end=run.period_end,
                    display_name=member_names(self.services.gateway, run.room_id),
                    room_name=self.rooms.names.get(run.room_id, run.room_id),
                    limit_per_tag=limit,
                )
            )
        return digests

    def write_files(self, session: Session, week: str) -> None:
        config = self.services.config
        digests = self.week_digests(session, week, None)
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
        )

    def post_if_complete(
        self,
        session: Session,
        week: str,
        now: datetime,
        exclude: str,
        targets: dict[str, str] | None = None,
    ) -> None:
        """Queue the gathered digest for each shared room once no room's digest is pending."""
        repository = DigestRepository(session)
        if [key for key in repository.pending_keys_for_week(week) if key != exclude]:
            return
        defaults = self.services.config.bot
        runs = repository.list_week(week)
        by_target: dict[str, list[str]] = {}
        for run in runs:
            target = room_view(session, run.room_id, defaults).digest_room
            resolved = (targets or {}).get(target, target if target.startswith("!") else "")
            if resolved:
                by_target.setdefault(resolved, []).append(run.room_id)
        if not by_target:
            return
        digests = {d.room_id: d for d in self.week_digests(session, week, ROOM_LIMIT_PER_TAG)}
        for target, room_ids in by_target.items():
            language = room_view(session, target, defaults).language
            shared = SharedMessage(
                self.services.renderer, language, week, [digests[r] for r in room_ids]
            )
            for index, rendered in enumerate(shared.parts(), 1):
                self.services.outbox.enqueue(
                    session,
                    key=f"shared:{target}:{week}:part{index}",
                    room_id=target,
                    content=notice_content(rendered),
                )
