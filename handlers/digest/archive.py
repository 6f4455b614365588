"""A room's digest archive, served by the web service at the room's `digest` link (`!résumé
lien`): an index of weeks, and each week's standalone page (the one written to the data dir,
with its SVG charts) holding the digests this room received that week — its own, and, in a
shared digest room, those of the rooms gathered into it. Nothing else: a room's link never shows
a digest its members did not get. Rebuilt from the database on each request, so a deleted
proposal or an erased author's text is gone at once.
"""

from __future__ import annotations

import re

from sqlmodel import Session

from bot.runtime.context import Context
from bot.runtime.kit import Page, PageRequest, Services
from handlers.digest import files as digest_files
from handlers.digest.build import room_view
from handlers.digest.shared import SharedDigest
from handlers.shared.weblinks import WebLinks, room_title
from storage.digest_models import DigestRun
from storage.digests import DigestRepository

ARCHIVE_KIND = "digest"
WEEK = re.compile(r"^\d{4}-W\d{2}$")
HTML = "text/html; charset=utf-8"


class DigestArchive:
    def __init__(self, services: Services, shared: SharedDigest) -> None:
        self.services = services
        self.shared = shared

    def gathered_rooms(self, session: Session, room_id: str) -> list[str]:
        """The room itself, and the rooms whose digests are gathered into it."""
        defaults = self.services.config.bot
        rooms = [room_id]
        for other in DigestRepository(session).rooms_with_runs():
            target = room_view(session, other, defaults).digest_room
            known = self.shared.rooms.known_room(target, session) if target else ""
            if other != room_id and known == room_id:
                rooms.append(other)
        return rooms

    def __call__(self, session: Session, request: PageRequest) -> Page | None:
        if request.path and not WEEK.match(request.path):
            return None
        runs = DigestRepository(session).list_for_rooms(
            self.gathered_rooms(session, request.room_id)
        )
        if request.path:
            return self._week(session, request, [r for r in runs if r.week == request.path])
        return self._index(session, request, runs)

    def _index(self, session: Session, request: PageRequest, runs: list[DigestRun]) -> Page:
        room = room_view(session, request.room_id, self.services.config.bot)
        weeks: dict[str, list[str]] = {}
        for digest_run in runs:
            weeks.setdefault(digest_run.week, []).append(
                self._name(session, digest_run.room_id)
                if digest_run.room_id != room.room_id
                else ""
            )
        html = (
            self.services.renderer.environment(room.language)
            .get_template("web_digest_index.html.j2")
            .render(
                language=room.language,
                room_name=self._name(session, room.room_id),
                base_url=request.base_url,
                weeks=[
                    {"label": week, "rooms": [name for name in rooms if name]}
                    for week, rooms in weeks.items()
                ],
            )
        )
        return Page(html.encode(), HTML)

    def _name(self, session: Session, room_id: str) -> str:
        """The room's name if known (never its ID: a page has no use for it)."""
        name = self.shared.rooms.names.get(room_id, "")
        return room_title(session, room_id) if name in ("", room_id) else name

    def _week(self, session: Session, request: PageRequest, runs: list[DigestRun]) -> Page | None:
        if not runs:
            return None
        room = room_view(session, request.room_id, self.services.config.bot)
        digests = [self.shared.room_digest(session, digest_run) for digest_run in runs]
        activity = digest_files.activity(
            DigestRepository(session), digests, request.path, room.timezone, self.shared.rooms.names
        )
        _markdown, html = digest_files.render_week(
            request.path, digests, activity, renderer=self.services.renderer, language=room.language
        )
        return Page(html.encode(), HTML)


class ArchiveLink:
    """`!résumé lien`: the link to the room's digest archive."""

    def __init__(self, services: Services, archive: DigestArchive) -> None:
        self.links = WebLinks(services.config.web, services.gateway, ARCHIVE_KIND)
        self.services = services
        self.archive = archive

    async def give(self, ctx: Context) -> None:
        url = self.links.link(ctx)
        await self.links.learn_name(ctx)
        await self.learn_names(ctx)
        ctx.reply(
            "This room's digests, week by week, each as a standalone page with its charts, "
            "ready to publish: {url} (anyone who has this link can read them).",
            url=url,
        )

    async def replace(self, ctx: Context) -> None:
        await ctx.require_organiser()
        url = self.links.link(ctx, replace=True)
        await self.links.learn_name(ctx)
        await self.learn_names(ctx)
        ctx.reply(
            "New link to this room's digests: {url}. The previous link no longer works.",
            url=url,
        )

    async def learn_names(self, ctx: Context) -> None:
        """Room names for the pages, and the rooms each `salon-résumé` names (asked of the
        homeserver here, as the pages are served without waiting on it)."""
        rooms = self.archive.shared.rooms
        defaults = self.services.config.bot
        for room_id in [ctx.room_id, *DigestRepository(ctx.session).rooms_with_runs()]:
            target = room_view(ctx.session, room_id, defaults).digest_room
            if target.startswith("#") and not rooms.aliases.get(target):
                await rooms.resolve_room(target)
        rooms.remember(ctx.session)
        for room_id in self.archive.gathered_rooms(ctx.session, ctx.room_id):
            await rooms.room_name(room_id)
