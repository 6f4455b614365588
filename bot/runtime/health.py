"""What `/healthz` reports: the sync loop's last success, the database, the outbox backlog."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from bot.runtime.clock import Clock
from storage.db import Database
from storage.outbox import OutboxRepository

# Syncs long-poll for 30 s: no success for two minutes means the homeserver is not answering
# (the same age the Docker HEALTHCHECK allows the heartbeat file).
SYNC_STALE_SECONDS = 120.0
# A sync failing this many times in a row is unhealthy at once (one failure is a blip).
SYNC_FAILURES = 2
# Messages are sent in seconds; one still queued after this long means sending is stuck.
OUTBOX_STALE_SECONDS = 600.0


@dataclass(frozen=True)
class SyncState:
    """What the sync loop says of itself: time.monotonic() of its last completed sync (None
    before the first), and how many attempts in a row have failed since."""

    last_success: float | None
    failures: int


class Health:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        sync_state: Callable[[], SyncState],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.clock = clock
        self.sync_state = sync_state
        self.monotonic = monotonic

    def report(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the JSON status)."""
        sync = self._sync()
        database, outbox = self._storage()
        healthy = sync["ok"] and database["ok"] and outbox["ok"]
        status = {
            "status": "ok" if healthy else "unhealthy",
            "sync": sync,
            "database": database,
            "outbox": outbox,
        }
        return healthy, status

    def _sync(self) -> dict[str, Any]:
        state = self.sync_state()
        if state.last_success is None:
            return {"ok": False, "last_success_seconds_ago": None, "failures": state.failures}
        age = max(0.0, self.monotonic() - state.last_success)
        ok = age <= SYNC_STALE_SECONDS and state.failures < SYNC_FAILURES
        return {"ok": ok, "last_success_seconds_ago": round(age, 1), "failures": state.failures}

    def _storage(self) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            with self.database.session() as session:
                session.exec(text("SELECT 1"))  # type: ignore[call-overload]
                pending, oldest = OutboxRepository(session).backlog()
        except Exception as error:
            unknown = {"ok": False, "pending": None, "oldest_pending_seconds": None}
            return {"ok": False, "error": type(error).__name__}, unknown
        age = (self.clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        outbox = {
            "ok": age <= OUTBOX_STALE_SECONDS,
            "pending": pending,
            "oldest_pending_seconds": round(max(0.0, age), 1),
        }
        return {"ok": True}, outbox
