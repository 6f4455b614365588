"""The outbox worker: sends queued messages, each with its stored transaction ID.

A message is queued in the same database transaction as the change that caused it, so
"handled" and "will be answered" are one fact. The worker then sends it; a retry or a restart
sends with the same transaction ID, which the homeserver deduplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import event
from sqlmodel import Session

from bot.matrix.errors import SendError
from bot.runtime.clock import Clock
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(seconds=10)
MIN_RETRY = timedelta(milliseconds=100)
# Parallel sends: Synapse answers many at once much faster than in turn. Measured in the burst
# benchmark (300 commands): 8 in flight gave 65 % of a minimal bot's throughput, 16 gave 80 %,
# 32 gave 90 %. Rate limits still apply: a 429 pauses every send of the account.
MAX_IN_FLIGHT = 32
PENDING_WINDOW = 64  # oldest pending messages looked at per pass: enough to fill the sends
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
        self._in_flight: dict[int, asyncio.Future[None]] = {}
        self._busy_groups: set[tuple[str, str]] = set()
        self._not_before: datetime | None = None

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

    def retry_now(self) -> None:
        """The homeserver is back: retry what waits for a connection, without more delay."""
        with self.database.session() as session:
            OutboxRepository(session).retry_transient_now(self.clock.now())
        self.wake()

    async def wait_idle(self) -> None:
        """Wait until nothing due is left to send (used at shutdown and by benchmarks)."""
        await self._idle.wait()

    async def run(self) -> None:
        """Keep up to ``MAX_IN_FLIGHT`` sends going; sleep until woken or a retry is due."""
        while True:
            self._wake.clear()
            next_due = self._start_due()
            timeout = None
            if next_due is not None:
                timeout = max(0.0, (next_due - self.clock.now()).total_seconds())
            elif not self._in_flight:
                self._idle.set()
            # asyncio.timeout rather than wait_for: no extra task, so a reply queued by the
            # intake starts sending one loop turn after its transaction commits.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def send_due(self) -> bool:
        """Send everything due now and wait for it (tests and benchmarks drive it this way)."""
        started = False
        while True:
            self._start_due()
            if not self._in_flight:
                return started
            started = True
            await asyncio.gather(*self._in_flight.values())

    def _start_due(self) -> datetime | None:
        """Start sending what is due, keeping each group's order; returns when to look again.

        Messages of one ordering group (a reply's parts, a digest's parts…) go one after the
        other: a message waiting for a retry holds back the later ones of its group. Different
        groups are sent in parallel, so one slow message never delays the whole room.
        """
        now = self.clock.now()
        if self._not_before is not None and now < self._not_before:
            return self._not_before  # the homeserver asked the whole account to wait
        with self.database.session() as session:
            repository = OutboxRepository(session)
            heads = repository.list_pending_heads(limit=PENDING_WINDOW)
            blocked: set[tuple[str, str]] = set(self._busy_groups)
            next_due: datetime | None = None
            starting: dict[int, tuple[str, str]] = {}
            for head in heads:
                group = (head.room_id, order_group(head.key))
                if head.id in self._in_flight or group in blocked:
                    blocked.add(group)
                    continue
                blocked.add(group)
                if head.next_attempt_at > now:
                    next_due = min(next_due or head.next_attempt_at, head.next_attempt_at)
                    continue
                if len(self._in_flight) + len(starting) >= MAX_IN_FLIGHT:
                    break
                starting[head.id] = group
            messages = repository.get_many(list(starting)) if starting else []
        for message in messages:
            assert message.id is not None
            group = starting[message.id]
            self._busy_groups.add(group)
            self._in_flight[message.id] = asyncio.ensure_future(self._deliver(message, group))
        return next_due

    async def _deliver(self, message: OutboxMessage, group: tuple[str, str]) -> None:
        try:
            await self._send_one(message)
        finally:
            assert message.id is not None
            self._in_flight.pop(message.id, None)
            self._busy_groups.discard(group)
            self.wake()

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
        except Exception:  # a bug must not stop the worker: retry later, as for a failure
            log.exception("send crashed", extra=extra)
            self._record_failure(message, SendError("unexpected error", permanent=False))
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
                self._not_before = max(self._not_before or now, now + delay)
            else:
                delay = min(MAX_BACKOFF, timedelta(seconds=0.5 * 2 ** min(message.attempts, 8)))
            repository.mark_retry(message.id, str(error), now + max(delay, MIN_RETRY))


def order_group(key: str) -> str:
    """Messages whose keys differ only after the last ``:`` keep their order (the parts of
    one reply or one digest); everything else may go out in parallel."""
    return key.rsplit(":", 1)[0]


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
