"""The outbox worker: sends queued messages in order, each with its stored transaction ID.

A message is queued in the same database transaction as the change that caused it, so
"handled" and "will be answered" are one fact. The worker then sends it; a retry or a restart
sends with the same transaction ID, which the homeserver deduplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import event
from sqlmodel import Session

from bot.clock import Clock
from bot.gateway import SendError
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(seconds=60)
# Homeservers remember transaction IDs for about 30 minutes: a message queued longer ago may
# have been sent by a run that crashed before recording it, so look for it first.
RECONCILE_AFTER = timedelta(minutes=20)
MAX_TRANSIENT_ATTEMPTS = 1000  # connection problems: keep trying for hours
SentHook = Callable[[Session, OutboxMessage], None]


class Sender(Protocol):
    async def send(
        self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> str: ...

    async def find_sent(self, room_id: str, txn_id: str) -> str | None: ...


class Outbox:
    def __init__(self, database: Database, sender: Sender, clock: Clock) -> None:
        self.database = database
        self.sender = sender
        self.clock = clock
        self._wake = asyncio.Event()
        self._sent_hooks: list[tuple[str, SentHook]] = []
        self._idle = asyncio.Event()
        self._idle.set()

    def on_sent(self, key_prefix: str, hook: SentHook) -> None:
        """Call ``hook`` (in the transaction that records the send) for keys with this prefix."""
        self._sent_hooks.append((key_prefix, hook))

    def enqueue(
        self,
        session: Session,
        *,
        key: str,
        room_id: str,
        content: dict[str, Any],
        event_type: str = "m.room.message",
    ) -> bool:
        """Queue a message under a unique key; a second call with the same key does nothing."""
        row = OutboxRepository(session).add(
            key=key, room_id=room_id, event_type=event_type, content=content, now=self.clock.now()
        )
        if row is not None and not session.info.get("outbox_hooked"):
            session.info["outbox_hooked"] = True
            event.listen(session, "after_commit", lambda _session: self.wake())
        return row is not None

    def wake(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Wait until nothing due is left to send (used at shutdown and by benchmarks)."""
        await self._idle.wait()

    async def run(self) -> None:
        """Send due messages forever; sleep until woken or until the next retry is due."""
        while True:
            self._wake.clear()
            sent_any = await self.send_due()
            if sent_any:
                continue
            with self.database.session() as session:
                next_due = OutboxRepository(session).next_due_at()
            timeout = None
            if next_due is None:
                self._idle.set()
            else:
                timeout = max(0.0, (next_due - self.clock.now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def send_due(self) -> bool:
        """Send every message due now, rooms in parallel, each room in order."""
        with self.database.session() as session:
            due = OutboxRepository(session).list_due(self.clock.now(), limit=200)
        if not due:
            return False
        by_room: dict[str, list[OutboxMessage]] = {}
        for message in due:
            by_room.setdefault(message.room_id, []).append(message)
        await asyncio.gather(*(self._send_room(messages) for messages in by_room.values()))
        return True

    async def _send_room(self, messages: list[OutboxMessage]) -> None:
        for message in messages:
            if not await self._send_one(message):
                return  # keep the room's order: later messages wait for this one

    async def _send_one(self, message: OutboxMessage) -> bool:
        assert message.id is not None
        extra = {"room_id": message.room_id, "job": message.key}
        try:
            event_id = None
            if self.clock.now() - message.created_at > RECONCILE_AFTER:
                event_id = await self.sender.find_sent(message.room_id, message.txn_id)
                if event_id:
                    log.info("already sent by an earlier run", extra=extra)
            if event_id is None:
                event_id = await self.sender.send(
                    message.room_id, message.event_type, message.content, message.txn_id
                )
        except SendError as error:
            self._record_failure(message, error)
            log.warning("send failed (%s), attempt %d", error, message.attempts + 1, extra=extra)
            return False
        with self.database.session() as session:
            repository = OutboxRepository(session)
            repository.mark_sent(message.id, event_id, self.clock.now())
            for prefix, hook in self._sent_hooks:
                if message.key.startswith(prefix):
                    message.event_id = event_id
                    hook(session, message)
        log.debug("sent %s", event_id, extra={**extra, "event_id": event_id})
        return True

    def _record_failure(self, message: OutboxMessage, error: SendError) -> None:
        assert message.id is not None
        now = self.clock.now()
        with self.database.session() as session:
            repository = OutboxRepository(session)
            if error.permanent or message.attempts + 1 >= MAX_TRANSIENT_ATTEMPTS:
                repository.mark_failed(message.id, str(error))
                return
            if error.retry_after is not None:
                delay = timedelta(seconds=error.retry_after)
            else:
                delay = min(MAX_BACKOFF, timedelta(seconds=0.5 * 2 ** min(message.attempts, 8)))
            repository.mark_retry(message.id, str(error), now + delay)


async def run_forever(worker: Callable[[], Awaitable[None]], name: str) -> None:
    """Keep a background worker alive: log and restart it after an unexpected error."""
    while True:
        try:
            await worker()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s crashed; restarting in 1 s", name)
            await asyncio.sleep(1)
