"""Event intake: classify each incoming event and handle it once, inside one transaction.

- the bot's own events and every ``m.notice`` are never commands;
- edits go to the edit hooks and never re-run a command;
- a command older than ``STALE_AFTER`` when first seen (backlog after downtime) is not
  answered, while data in that backlog (votes, reactions, edits, redactions, proposals) is
  still applied;
- whatever happens in a handler, the event is recorded as processed, so a poison event can
  neither crash the bot nor be retried forever; a failed handler's changes are rolled back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.clock import Clock, from_millis
from bot.config import BotConfig
from bot.context import Context
from bot.i18n import Translations
from bot.messages import MessageRenderer
from bot.outbox import Outbox
from bot.room_settings import resolve
from bot.router import Router, user_message
from bot.timers import Timers
from storage.db import Database
from storage.rooms import RoomSettingsRepository
from storage.state import ProcessedEventRepository

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=5)
POLL_TYPE_PREFIXES = ("org.matrix.msc3381.poll.", "m.poll.")

MessageHook = Callable[[Context, str, dict[str, Any]], Awaitable[None]]
ReactionHook = Callable[[Context, str, str], Awaitable[None]]
RedactionHook = Callable[[Context, str], Awaitable[None]]
EditHook = Callable[[Context, str, dict[str, Any]], Awaitable[None]]
PollHook = Callable[[Context, dict[str, Any]], Awaitable[None]]


@dataclass
class Hooks:
    """What features listen to besides commands."""

    messages: list[MessageHook] = field(default_factory=list)
    reactions: list[ReactionHook] = field(default_factory=list)
    redactions: list[RedactionHook] = field(default_factory=list)
    edits: list[EditHook] = field(default_factory=list)
    polls: list[PollHook] = field(default_factory=list)


@dataclass(frozen=True)
class Incoming:
    """The fields every handled event needs, checked once (events can be malformed)."""

    event_id: str
    room_id: str
    sender: str
    type: str
    content: dict[str, Any]
    origin_ts: datetime
    raw: dict[str, Any]

    @property
    def relation(self) -> dict[str, Any]:
        relation = self.content.get("m.relates_to")
        return relation if isinstance(relation, dict) else {}

    @property
    def thread_root(self) -> str | None:
        relation = self.relation
        if relation.get("rel_type") == "m.thread" and isinstance(relation.get("event_id"), str):
            return str(relation["event_id"])
        return None


def read_incoming(room_id: str, raw: Any) -> Incoming | None:
    if not isinstance(raw, dict):
        return None
    event_id, sender, kind = raw.get("event_id"), raw.get("sender"), raw.get("type")
    content, ts = raw.get("content"), raw.get("origin_server_ts")
    if not (isinstance(event_id, str) and isinstance(sender, str) and isinstance(kind, str)):
        return None
    if not isinstance(content, dict) or not isinstance(ts, int) or isinstance(ts, bool):
        return None
    return Incoming(event_id, room_id, sender, kind, content, from_millis(ts), raw)


def command_text(body: str) -> str:
    """Drop a rich-reply fallback (``> <@x> …`` lines) that old clients put before the text."""
    lines = body.splitlines()
    if lines and lines[0].startswith("> "):
        while lines and lines[0].startswith(">"):
            lines.pop(0)
        while lines and not lines[0].strip():
            lines.pop(0)
    return "\n".join(lines)


class Intake:
    def __init__(
        self,
        *,
        bot_user_id: str,
        database: Database,
        clock: Clock,
        defaults: BotConfig,
        router: Router,
        hooks: Hooks,
        translations: Translations,
        renderer: MessageRenderer,
        outbox: Outbox,
        timers: Timers,
        power_level: Callable[[str, str], Awaitable[float]],
        display_name: Callable[[str, str], str],
    ) -> None:
        self.bot_user_id = bot_user_id
        self.database = database
        self.clock = clock
        self.defaults = defaults
        self.router = router
        self.hooks = hooks
        self.translations = translations
        self.renderer = renderer
        self.outbox = outbox
        self.timers = timers
        self._power_level = power_level
        self._display_name = display_name

    async def handle_room_events(self, room_id: str, events: list[dict[str, Any]]) -> None:
        """Handle a room's new events in order, skipping those already processed."""
        incoming = [
            item
            for item in (read_incoming(room_id, raw) for raw in events)
            if item is not None and item.sender != self.bot_user_id
        ]
        if not incoming:  # often only the bot's own replies coming back: nothing to look up
            return
        with self.database.session() as session:
            seen = ProcessedEventRepository(session).seen([item.event_id for item in incoming])
        for item in incoming:
            if item.event_id in seen:
                continue
            seen.add(item.event_id)
            await self.handle(item)
            # Handlers rarely wait on I/O: yield so the outbox starts sending this reply
            # while the rest of a large batch is being handled.
            await asyncio.sleep(0)

    async def handle(self, item: Incoming) -> None:
        is_command = self._command(item) is not None
        try:
            with self.database.session() as session:
                ctx = self._context(session, item)
                await self._route(ctx, item)
                ProcessedEventRepository(session).add(item.event_id, item.room_id, self.clock.now())
        except Exception as error:  # the boundary: log, answer, record, carry on
            with self.database.session() as session:
                ctx = self._context(session, item)
                message = user_message(error)
                if message is not None:
                    if is_command:
                        ctx.reply(message)
                else:
                    incident = uuid.uuid4().hex[:8]
                    log.exception(
                        "handler failed (incident %s)",
                        incident,
                        extra={"room_id": item.room_id, "event_id": item.event_id},
                    )
                    if is_command:
                        ctx.reply(
                            "Sorry, something went wrong while handling this command "
                            "(incident {incident}). Nothing was recorded; please try again.",
                            incident=incident,
                        )
                ProcessedEventRepository(session).add(item.event_id, item.room_id, self.clock.now())

    def _command(self, item: Incoming) -> tuple[str, str] | None:
        if item.type != "m.room.message" or item.content.get("msgtype") == "m.notice":
            return None
        if item.relation.get("rel_type") == "m.replace":
            return None
        body = item.content.get("body")
        if not isinstance(body, str):
            return None
        return self.router.parse(command_text(body))

    async def _route(self, ctx: Context, item: Incoming) -> None:
        content = item.content
        if item.type == "m.room.message":
            if content.get("msgtype") == "m.notice":
                return
            relation = item.relation
            if relation.get("rel_type") == "m.replace":
                target, new_content = relation.get("event_id"), content.get("m.new_content")
                if isinstance(target, str) and isinstance(new_content, dict):
                    for edit_hook in self.hooks.edits:
                        await edit_hook(ctx, target, new_content)
                return
            parsed = self._command(item)
            if parsed is not None:
                name, ctx.args = parsed
                command = self.router.registry.find(name)
                if ctx.is_backlog and (command is None or not command.backlog):
                    log.info(
                        "stale command not answered",
                        extra={"room_id": item.room_id, "event_id": item.event_id},
                    )
                    return
                await self.router.dispatch(ctx, name)
                return
            body = content.get("body")
            if isinstance(body, str):
                for message_hook in self.hooks.messages:
                    await message_hook(ctx, body, item.raw)
        elif item.type == "m.reaction":
            relation = item.relation
            target, key = relation.get("event_id"), relation.get("key")
            is_annotation = relation.get("rel_type") == "m.annotation"
            if is_annotation and isinstance(target, str) and isinstance(key, str):
                for reaction_hook in self.hooks.reactions:
                    await reaction_hook(ctx, target, key)
        elif item.type == "m.room.redaction":
            redacts = content.get("redacts") or item.raw.get("redacts")
            if isinstance(redacts, str):
                for redaction_hook in self.hooks.redactions:
                    await redaction_hook(ctx, redacts)
        elif item.type.startswith(POLL_TYPE_PREFIXES):
            for poll_hook in self.hooks.polls:
                await poll_hook(ctx, item.raw)

    def _context(self, session: Session, item: Incoming) -> Context:
        stored = RoomSettingsRepository(session).get(item.room_id)
        room = resolve(item.room_id, stored, self.defaults)
        room_id = item.room_id
        return Context(
            room=room,
            sender=item.sender,
            event_id=item.event_id,
            origin_ts=item.origin_ts,
            session=session,
            clock=self.clock,
            translations=self.translations,
            renderer=self.renderer,
            outbox=self.outbox,
            timers=self.timers,
            power_level=lambda user_id: self._power_level(room_id, user_id),
            display_name=lambda user_id: self._display_name(room_id, user_id),
            thread_root=item.thread_root,
            is_backlog=self.clock.now() - item.origin_ts > STALE_AFTER,
        )
