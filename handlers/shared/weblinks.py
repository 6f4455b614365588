"""The web links features give (`!agenda abonnement`, `!résumé lien`, `!propositions lien`):
one capability link per room and kind, refused with the reason when the bot has no web service
or the room is encrypted and its organisers have not turned its pages on."""

from __future__ import annotations

from sqlmodel import Session

from bot.runtime.config import WebConfig
from bot.runtime.context import Context
from bot.runtime.kit import FeatureGateway
from bot.runtime.room_settings import pages_allowed
from bot.text.errors import UserError
from storage.state import StateRepository
from storage.web import WebLinkRepository

WEB_PAGES_ON = "!réglages pages-web on"
NAME_KEY_LENGTH = 100  # the key-value table's key


def name_key(room_id: str) -> str:
    return f"web-room-name:{room_id}"


def room_title(session: Session, room_id: str) -> str:
    """The room's name as last learnt by a link command, for page titles ("" if unknown)."""
    return StateRepository(session).get(name_key(room_id)) or ""


class WebLinks:
    """Hands out and replaces a room's links of one kind (`agenda`, `digest`, `proposals`)."""

    def __init__(self, config: WebConfig, gateway: FeatureGateway, kind: str) -> None:
        self.config = config
        self.gateway = gateway
        self.kind = kind

    def link(self, ctx: Context, *, replace: bool = False) -> str:
        """The room's link (made on first request; a new one when ``replace``), without a
        trailing slash."""
        self.check(ctx)
        repository = WebLinkRepository(ctx.session)
        now = ctx.clock.now()
        if replace:
            link = repository.replace(ctx.room_id, self.kind, now)
        else:
            link = repository.get_or_add(ctx.room_id, self.kind, now)
        return f"{self.config.public_url.rstrip('/')}/{self.kind}/{link.token}"

    async def learn_name(self, ctx: Context) -> None:
        """Keep the room's name for its pages' titles (asked of the homeserver here: pages are
        served from the database alone)."""
        name = await self.gateway.room_name(ctx.room_id)
        key = name_key(ctx.room_id)
        if name and len(key) <= NAME_KEY_LENGTH:
            StateRepository(ctx.session).set(key, name)

    def check(self, ctx: Context) -> None:
        """Refuses, saying why, when the room's pages may not be served."""
        if not self.config.enabled:
            raise UserError(
                "This bot has no web service: its administrator can turn it on "
                "(the [web] section of its configuration)."
            )
        encrypted = self.gateway.is_encrypted(ctx.room_id)
        if pages_allowed(ctx.room.web_pages, encrypted=encrypted):
            return
        if not encrypted:
            raise UserError(
                "This room's organisers turned its web pages off; they can turn them on again "
                "with {command}.",
                command=WEB_PAGES_ON,
            )
        raise UserError(
            "This room is encrypted: its web pages would take what is said here out of "
            "end-to-end encryption, so they are off. An organiser can turn them on, "
            "knowing this, with {command}.",
            command=WEB_PAGES_ON,
        )


def webcal(url: str) -> str:
    """The same link for calendar apps (webcal:// opens a subscription)."""
    return "webcal://" + url.split("://", 1)[1]
