"""Event intake: classify each incoming event and handle it once, inside one transaction.

- the bot's own events and every ``m.notice`` are never commands;
- edits go to the edit hooks and never re-run a command;
- a command older than ``STALE_AFTER`` when first seen (backlog after downtime) is not
  answered, while data in that backlog (votes, reactions, edits, redactions, proposals) is
  still applied;
- a command over its sender's pace waits its turn in the database and runs later, in order
  (see ``bot.runtime.pacing``); only a flood is refused, and named in one reply once it stops;
- whatever happens in a handler, the event is recorded as processed, so a poison event can
  neither crash the bot nor be retried forever; a failed handler's changes are rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.runtime.clock import Clock, from_millis
from bot.runtime.config import BotConfig
from bot.runtime.context import Context
from bot.runtime.kit import Hooks
from bot.runtime.messages import MessageRenderer, notice_content
from bot.runtime.outbox import Outbox
from bot.runtime.pacing import FloodReport
from bot.runtime.room_settings import RoomView, resolve
from bot.runtime.router import CommandPipeline
from bot.runtime.timers import Timers
from bot.text.i18n import Translations
from bot.text.replies import command_text
from storage.db import Database
from storage.rooms import RoomSettingsRepository
from storage.state import ProcessedEventRepository
from storage.waiting import WaitingCommandRepository

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=5)
POLL_TYPE_PREFIXES = ("org.matrix.msc3381.poll.", "m.poll.")


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


class Intake:
    def __init__(
        self,
        *,
        bot_user_id: str,
        database: Database,
        clock: Clock,
        defaults: BotConfig,
        pipeline: CommandPipeline,
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
        self.pipeline = pipeline
        self.pacer = pipeline.pacer
        self.hooks = hooks
        self.translations = translations
        self.renderer = renderer
        self.outbox = outbox
        self.timers = timers
        self._power_level = power_level
        self._display_name = display_name
        # One event is handled at a time, whether it comes from a sync or from the waiting
        # queue: handlers share the database, and SQLite allows one writer.
        self._handling = asyncio.Lock()
        self._waiting_changed = asyncio.Event()

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
        async with self._handling:
            if self._command(item) is not None and not self._is_stale(item):
                with self.database.session() as session:
                    ctx = self._context(session, item)
                    body = command_text(str(item.content.get("body", "")))
                    if not await self.pipeline.admit(ctx, item.raw, body):
                        self._waiting_changed.set()
                        return
            await self._handle(item)

    async def _handle(self, item: Incoming, waiting_id: int | None = None) -> None:
        """Route one event in a transaction that also records it as handled (or, for a
        waiting command, removes it from the queue); the error boundary."""
        is_command = self._command(item) is not None
        try:
            with self.database.session() as session:
                ctx = self._context(session, item, waited=waiting_id is not None)
                await self._route(ctx, item)
                self._record_handled(session, item, waiting_id)
        except Exception as error:  # the boundary: log, answer, record, carry on
            with self.database.session() as session:
                ctx = self._context(session, item, waited=waiting_id is not None)
                self.pipeline.answer(ctx, error, is_command=is_command, event=item.event_id)
                self._record_handled(session, item, waiting_id)

    def _record_handled(self, session: Session, item: Incoming, waiting_id: int | None) -> None:
        if waiting_id is None:
            ProcessedEventRepository(session).add(item.event_id, item.room_id, self.clock.now())
        else:  # recorded as processed when it started waiting
            WaitingCommandRepository(session).remove(waiting_id)

    def _is_stale(self, item: Incoming) -> bool:
        return self.clock.now() - item.origin_ts > STALE_AFTER

    # --- waiting commands -----------------------------------------------------------------

    def restore_waiting(self) -> None:
        """At start: commands still waiting from before the restart keep their turn."""
        with self.database.session() as session:
            for row in WaitingCommandRepository(session).list_all():
                self.pacer.restore(row.room_id, row.sender, row.due_at)

    async def run_waiting(self) -> None:
        """Forever: run waiting commands when their turn comes; report floods once over."""
        while True:
            self._waiting_changed.clear()
            await self.run_due_waiting()
            with self.database.session() as session:
                next_command = WaitingCommandRepository(session).next_due_at()
            moments = [m for m in (next_command, self.pacer.next_flood_report_at()) if m]
            timeout = None
            if moments:
                timeout = max(0.0, (min(moments) - self.clock.now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._waiting_changed.wait(), timeout=timeout)

    async def run_due_waiting(self) -> int:
        """Run every waiting command whose turn has come, in order, and send the reports of
        floods that have stopped. Returns how many commands ran."""
        now = self.clock.now()
        with self.database.session() as session:
            due = WaitingCommandRepository(session).due_ids(now)
        ran = 0
        for row_id in due:
            async with self._handling:
                with self.database.session() as session:
                    row = WaitingCommandRepository(session).get(row_id)
                item = read_incoming(row.room_id, row.event) if row is not None else None
                if row is None or item is None:  # withdrawn (deleted) meanwhile
                    continue
                await self._handle(item, waiting_id=row_id)
                self.pacer.finished(row.room_id, row.sender)
                ran += 1
            await asyncio.sleep(0)  # let the outbox send this answer now
        for report in self.pacer.floods_over(self.clock.now()):
            self._report_flood(report)
        return ran

    def _report_flood(self, report: FloodReport) -> None:
        with self.database.session() as session:
            stored = RoomSettingsRepository(session).get(report.room_id)
            room = resolve(report.room_id, stored, self.defaults)
            rendered = self.renderer.render(
                "flood_refused",
                room.language,
                count=report.count,
                first=_clock_time(report.first_at, room),
                last=_clock_time(report.last_at, room),
                quotes=report.quotes,
                unquoted=report.count - len(report.quotes),
            )
            self.outbox.enqueue(
                session,
                key=f"flood:{report.first_event_id}",
                room_id=report.room_id,
                content=notice_content(rendered, reply_to=report.first_event_id),
            )

    def _command(self, item: Incoming) -> tuple[str, str] | None:
        if item.type != "m.room.message" or item.content.get("msgtype") == "m.notice":
            return None
        if item.relation.get("rel_type") == "m.replace":
            return None
        body = item.content.get("body")
        if not isinstance(body, str):
            return None
        return self.pipeline.parse(command_text(body))

    async def _route(self, ctx: Context, item: Incoming) -> None:
        content = item.content
        if item.type == "m.room.message":
            if content.get("msgtype") == "m.notice":
                return
            relation = item.relation
            if relation.get("rel_type") == "m.replace":
                target, new_content = relation.get("event_id"), content.get("m.new_content")
                if isinstance(target, str) and isinstance(new_content, dict):
                    if self._edit_waiting(ctx, target, new_content):
                        return
                    for edit_hook in self.hooks.edits:
                        await edit_hook(ctx, target, new_content)
                return
            parsed = self._command(item)
            if parsed is not None:
                name, ctx.args = parsed
                if ctx.is_backlog and not self.pipeline.runs_in_backlog(name):
                    log.info(
                        "stale command not answered",
                        extra={"room_id": item.room_id, "event_id": item.event_id},
                    )
                    return
                await self.pipeline.run(ctx, name)
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
                self._withdraw_waiting(ctx, redacts)
                for redaction_hook in self.hooks.redactions:
                    await redaction_hook(ctx, redacts)
        elif item.type.startswith(POLL_TYPE_PREFIXES):
            for poll_hook in self.hooks.polls:
                await poll_hook(ctx, item.raw)

    def _edit_waiting(self, ctx: Context, target: str, new_content: dict[str, Any]) -> bool:
        """An edit of a command still waiting: it will run as edited (it has not run yet)."""
        waiting = WaitingCommandRepository(ctx.session).find(target)
        if waiting is None or waiting.sender != ctx.sender:
            return False
        waiting.event = {**waiting.event, "content": new_content}
        return True

    def _withdraw_waiting(self, ctx: Context, target: str) -> None:
        """A command deleted while it waited is not run."""
        repository = WaitingCommandRepository(ctx.session)
        waiting = repository.find(target)
        if waiting is not None and waiting.id is not None:
            repository.remove(waiting.id)
            self.pacer.finished(waiting.room_id, waiting.sender)

    def _context(self, session: Session, item: Incoming, *, waited: bool = False) -> Context:
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
            # A command that waited its turn was seen in time, however long it waited.
            is_backlog=not waited and self._is_stale(item),
        )


def _clock_time(moment: datetime, room: RoomView) -> str:
    return moment.astimezone(room.tz).strftime("%H:%M:%S")
