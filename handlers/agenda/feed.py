"""The room's calendar feed, for calendar apps that subscribe to it (`!agenda abonnement`).

Served by the web service at the room's `agenda` link: every event and deadline of the room,
past ones too, cancelled ones with STATUS:CANCELLED so subscribed calendars drop them, and
recurring series with their RRULE, an EXDATE per cancelled meeting and a RECURRENCE-ID entry
per moved one. The
feed only changes when the room's agenda does (its DTSTAMPs are the last change), so its ETag
stays the same and calendar apps polling it get 304s. `!agenda nouveau-lien` replaces the link:
the old one answers 404 at once.
"""

from __future__ import annotations

from sqlmodel import Session

from bot.runtime.config import BotConfig
from bot.runtime.context import Context
from bot.runtime.kit import FeatureGateway, Page, PageRequest, Services
from bot.runtime.room_settings import resolve
from handlers.agenda.view import agenda_calendar
from handlers.shared.weblinks import WebLinks, room_title, webcal
from storage.agenda import AgendaRepository
from storage.rooms import RoomSettingsRepository

FEED_KIND = "agenda"
FEED_FILE = "agenda.ics"  # calendar apps like a link that ends like a calendar file


class CalendarFeed:
    def __init__(self, defaults: BotConfig) -> None:
        self.defaults = defaults

    def __call__(self, session: Session, request: PageRequest) -> Page | None:
        if request.path not in ("", FEED_FILE):
            return None
        room = resolve(
            request.room_id, RoomSettingsRepository(session).get(request.room_id), self.defaults
        )
        repository = AgendaRepository(session)
        items = repository.list_all(request.room_id)
        # a series' cancelled and moved meetings: its EXDATEs and RECURRENCE-IDs
        exceptions = {
            item.id: repository.exceptions(item.id)
            for item in items
            if item.recurrence and item.id is not None
        }
        changes = [item.cancelled_at or item.created_at for item in items]
        changes += [change.created_at for found in exceptions.values() for change in found]
        changed = max(changes, default=None)
        body = agenda_calendar(
            items,
            tz=room.tz,
            now=changed or request.now,
            exceptions=exceptions,
            name=room_title(session, request.room_id),
        )
        return Page(body, "text/calendar; charset=utf-8", last_modified=changed)


class Subscription:
    """`!agenda abonnement` and `!agenda nouveau-lien`."""

    def __init__(self, services: Services, gateway: FeatureGateway) -> None:
        self.links = WebLinks(services.config.web, gateway, FEED_KIND)

    async def subscribe(self, ctx: Context) -> None:
        url = f"{self.links.link(ctx)}/{FEED_FILE}"
        await self.links.learn_name(ctx)
        ctx.reply(
            "Subscribe to this room's agenda in your calendar app: {webcal} (or add the "
            "calendar by its address: {url}). It shows every event and deadline of the room "
            "and follows the changes. Anyone who has this link can read it: an organiser can "
            "replace it with {command}.",
            webcal=webcal(url),
            url=url,
            command="!agenda nouveau-lien",
        )

    async def new_link(self, ctx: Context) -> None:
        await ctx.require_organiser()
        url = f"{self.links.link(ctx, replace=True)}/{FEED_FILE}"
        await self.links.learn_name(ctx)
        ctx.reply(
            "New link to this room's agenda: {webcal} ({url}). The previous link no longer "
            "works: those who subscribed with it must subscribe again with this one.",
            webcal=webcal(url),
            url=url,
        )
