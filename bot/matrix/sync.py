"""The sync loop: at-least-once intake, deduplicated, with the token saved after handling.

- The sync token is stored only after every event of the batch is handled and committed,
  so a crash replays the batch and ``processed_event`` makes the replay harmless.
- A ``limited`` timeline (a burst larger than the sync returns) is completed from room
  history between the previous token and the batch, so no message is lost.
- On the very first start, and in a room the bot just joined, history from before the
  bot was there is not handled.
- Before the first batch is handled, ``before_first_batch`` runs (the app finishes what the
  previous run was sending): the client knows the rooms by then, so it can send, and a vote
  in the batch finds the poll start it answers already recorded.
- ``caught_up(moment)`` waits until a sync asked for at or after that moment is handled: then
  every event the homeserver held at that moment has reached the bot (a poll's closing timer
  waits for it, so that a vote cast in the last second is counted). A waiting long poll is
  abandoned for an immediate sync rather than waited out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import nio

from bot.matrix.errors import TransientError
from bot.matrix.gateway import MatrixGateway
from bot.matrix.membership import Membership
from bot.runtime.clock import Clock
from bot.runtime.intake import Intake
from storage.db import Database
from storage.rooms import RoomSettingsRepository
from storage.state import StateRepository

log = logging.getLogger(__name__)

SYNC_TOKEN = "sync_token"
FILTER_ID = "sync_filter_id"
SYNC_TIMEOUT_MS = 30_000
MAX_BACKOFF_SECONDS = 5.0
SYNC_FILTER: dict[str, Any] = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        "timeline": {"limit": 100},
        "state": {"lazy_load_members": True},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}
MEMBERSHIP_CHANGES = ("leave", "ban")
HEARTBEAT_FILE = "heartbeat"  # in the data dir, touched after every sync (health check)


def touch_heartbeat(data_dir: Path) -> None:
    """Mark that a sync just completed (never fails the sync: a health check only reads it)."""
    try:
        (data_dir / HEARTBEAT_FILE).touch()
    except OSError as error:
        log.warning("could not touch the heartbeat file: %s", error)


def heartbeat_age(data_dir: Path) -> float | None:
    """Seconds since the last completed sync, or None if the bot never synced here."""
    try:
        return max(0.0, time.time() - (data_dir / HEARTBEAT_FILE).stat().st_mtime)
    except OSError:
        return None


class SyncLoop:
    def __init__(
        self,
        *,
        gateway: MatrixGateway,
        database: Database,
        intake: Intake,
        membership: Membership,
        clock: Clock,
        undecryptable: Callable[[str, list[dict[str, Any]]], Awaitable[None]] | None = None,
        on_reconnect: Callable[[], None] | None = None,
        heartbeat: Path | None = None,
        before_first_batch: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.gateway = gateway
        self.database = database
        self.intake = intake
        self.membership = membership
        self.clock = clock
        self.undecryptable = undecryptable  # messages still m.room.encrypted after the sync
        self.on_reconnect = on_reconnect  # the homeserver answers again after failures
        self.heartbeat = heartbeat  # the data dir, where each completed sync is marked
        # Runs once, after the first sync answer reached the client and before its events are
        # handled: sending needs the rooms' state (encrypted or not), which only a sync gives.
        self.before_first_batch = before_first_batch
        self.synced = asyncio.Event()  # set after the first successful sync (readiness)
        # time.monotonic() of the last completed sync, None before the first (/healthz)
        self.last_success: float | None = None
        # When the last handled sync was asked for: the events the homeserver held then are
        # all handled (``caught_up``).
        self._handled_as_of: datetime | None = None
        self._progress = asyncio.Event()  # set, then replaced, after each sync handled or failed
        self._hurry = asyncio.Event()  # someone waits in ``caught_up``: no long poll
        self._stopping = asyncio.Event()
        self._failures = 0

    def stop(self) -> None:
        self._stopping.set()

    @property
    def failures(self) -> int:
        """Sync attempts failed in a row since the last success (health)."""
        return self._failures

    async def caught_up(self, moment: datetime, limit_seconds: float) -> bool:
        """Wait until a sync asked for at or after ``moment`` is handled, so that every event
        the homeserver held at that moment has been handled; False if that takes longer than
        ``limit_seconds``, or at once if the last sync failed (the homeserver does not
        answer) or the bot is stopping."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_seconds
        while self._handled_as_of is None or self._handled_as_of < moment:
            remaining = deadline - loop.time()
            if remaining <= 0 or self._stopping.is_set() or self._failures:
                return False
            progress = self._progress
            self._hurry.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wait(), timeout=remaining)
        return True

    async def run(self) -> None:
        filter_id = await self._filter_id()
        with self.database.session() as session:
            token = StateRepository(session).get(SYNC_TOKEN)
        first = True
        while not self._stopping.is_set():
            hurried = self._hurry.is_set()
            self._hurry.clear()
            asked_at = self.clock.now()
            response = await self._sync_once(
                token, filter_id, full_state=first, long_poll=not (first or hurried)
            )
            if response is None:
                continue
            if self.before_first_batch is not None:
                prepare, self.before_first_batch = self.before_first_batch, None
                await prepare()
            try:
                complete = await self._handle(response, since=token)
            except (TransientError, OSError, aiohttp.ClientError) as error:
                # e.g. the homeserver vanished mid-batch: the token is not saved, so the batch
                # comes again and already-handled events are skipped.
                await self._backoff(error)
                continue
            if not complete:
                return  # stopping mid-batch: the next start gets this batch again
            token = response.next_batch
            with self.database.session() as session:
                StateRepository(session).set(SYNC_TOKEN, token)
            await self.gateway.after_sync()
            if self.heartbeat is not None:
                touch_heartbeat(self.heartbeat)
            self.last_success = time.monotonic()
            first = False
            self.synced.set()
            self._handled_as_of = asked_at
            self._tell_waiters()

    async def _filter_id(self) -> str | None:
        with self.database.session() as session:
            stored = StateRepository(session).get(FILTER_ID)
        if stored:
            return stored
        while not self._stopping.is_set():
            try:
                filter_id = await self.gateway.upload_filter(SYNC_FILTER)
            except TransientError as error:
                await self._backoff(error)
                continue
            with self.database.session() as session:
                StateRepository(session).set(FILTER_ID, filter_id)
            return filter_id
        return None

    async def _sync_once(
        self, token: str | None, filter_id: str | None, *, full_state: bool, long_poll: bool
    ) -> nio.SyncResponse | None:
        """One sync, abandoned at once if the bot is asked to stop, or a long poll if someone
        waits in ``caught_up`` (nothing is lost: the token moves only after handling)."""
        sync = asyncio.ensure_future(
            self.gateway.sync(
                since=token,
                timeout_ms=SYNC_TIMEOUT_MS if long_poll else 0,
                sync_filter=filter_id,
                full_state=full_state,
            )
        )
        interruptions = [asyncio.ensure_future(self._stopping.wait())]
        if long_poll:
            interruptions.append(asyncio.ensure_future(self._hurry.wait()))
        try:
            await asyncio.wait({sync, *interruptions}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for interruption in interruptions:
                interruption.cancel()
        if not sync.done():
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sync
            return None
        try:
            response = sync.result()
        except TransientError as error:
            await self._backoff(error)
            return None
        if self._failures:
            log.info("homeserver reachable again after %d failed syncs", self._failures)
            if self.on_reconnect is not None:
                self.on_reconnect()
        self._failures = 0
        return response

    def _tell_waiters(self) -> None:
        """Wake those waiting in ``caught_up``: a sync was handled, or failed."""
        self._progress.set()
        self._progress = asyncio.Event()

    async def _backoff(self, error: Exception) -> None:
        self._failures += 1
        self._tell_waiters()
        # Short cap: a bot has one homeserver, and people wait for it to catch up.
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(self._failures, 6))
        log.warning("homeserver problem (%s); retrying in %.1f s", error, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    def _adopt_rooms(self, response: nio.SyncResponse) -> None:
        """First start ever: remember the rooms, handle none of their history."""
        with self.database.session() as session:
            rooms = RoomSettingsRepository(session)
            for room_id in response.rooms.join:
                rooms.mark_joined(room_id, self.clock.now())

    async def _handle(self, response: nio.SyncResponse, *, since: str | None) -> bool:
        """Handle one sync batch; False if asked to stop before its end."""
        for room_id, invite in response.rooms.invite.items():
            state = [event.source for event in invite.invite_state if hasattr(event, "source")]
            await self.membership.handle_invite(room_id, state)
        for room_id in response.rooms.leave:
            self.membership.room_left(room_id)
        if since is None:
            self._adopt_rooms(response)
            return True
        for room_id, info in response.rooms.join.items():
            if self._stopping.is_set():
                return False
            events = [event.source for event in info.timeline.events]
            if info.timeline.limited and info.timeline.prev_batch:
                # A failure here raises: the batch is retried rather than losing the gap.
                gap = await self.gateway.messages_between(
                    room_id, start=info.timeline.prev_batch, end=since
                )
                events = gap + events
            events = self._after_own_join(room_id, events)
            await self.intake.handle_room_events(room_id, events)
            if self.undecryptable is not None:
                locked = [e for e in events if e.get("type") == "m.room.encrypted"]
                if locked:
                    await self.undecryptable(room_id, locked)
            await self._membership_effects(room_id, events)
        return True

    def _after_own_join(self, room_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop the history from before the bot joined, when its join is in this batch.

        Only a real join counts (not a later profile change of the bot, which is also a
        "join" membership event): the previous membership tells them apart.
        """
        for index in range(len(events) - 1, -1, -1):
            event = events[index]
            content = event.get("content")
            unsigned = event.get("unsigned")
            if not isinstance(content, dict):
                continue
            previous = unsigned.get("prev_content") if isinstance(unsigned, dict) else None
            was_joined = isinstance(previous, dict) and previous.get("membership") == "join"
            if (
                event.get("type") == "m.room.member"
                and event.get("state_key") == self.gateway.user_id
                and content.get("membership") == "join"
                and not was_joined
            ):
                with self.database.session() as session:
                    RoomSettingsRepository(session).mark_joined(room_id, self.clock.now())
                return events[index + 1 :]
        return events

    async def _membership_effects(self, room_id: str, events: list[dict[str, Any]]) -> None:
        someone_left = False
        for event in events:
            kind = event.get("type")
            content = event.get("content")
            if not isinstance(content, dict):
                continue
            if kind == "m.room.encryption":
                await self.membership.room_became_encrypted(room_id)
                return
            if kind == "m.room.member" and content.get("membership") in MEMBERSHIP_CHANGES:
                if event.get("state_key") == self.gateway.user_id:
                    return
                someone_left = True
        if someone_left:
            await self.membership.check_alone(room_id)
