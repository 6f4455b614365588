"""The web service's answer times for a room with a year of history.

A fresh SQLite database (migrated like the bot's) gets one room's year of activity
(``year_of_history.py``: 156 proposals with tags and supports, 12 events and 6 deadlines,
52 digests posted, …); the bot's runtime is built from the shipped configuration with the web
service on, and the service listens on 127.0.0.1 as the bot runs it. Measured over HTTP, one
request at a time, each page ``REQUESTS`` times:

- the calendar feed, fetched whole, and again with its ETag (the 304 calendar apps get);
- the proposals page, all of them and one theme;
- the digest archive's index (52 weeks) and one week's page (built from the database, charts
  included).

No homeserver: the pages read the bot's database only. The per-address limit is raised for
the measuring client (one address making hundreds of requests is what it exists to stop).
Usage: ``python benchmarks/web_pages.py [requests]``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import append_report, summary, table
from year_of_history import seed_year

from bot.runtime.builder import build_runtime
from bot.runtime.clock import FrozenClock
from bot.runtime.config import load_config
from bot.runtime.health import Health, SyncState
from bot.runtime.web import WebService
from bot.runtime.web_limits import AddressLimiter
from bot.tools.shipped_config import EXAMPLE, environment
from storage.db import Database
from storage.web import WebLinkRepository

ROOM = "!year:example.org"
END = dt.datetime(2027, 6, 14, 7, 0, tzinfo=dt.UTC)  # a Monday, after the year's last digest
REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 50


class QuietGateway:
    """What the runtime asks of the homeserver, answered locally (the pages need none of it)."""

    encryption_ready = False

    async def send(
        self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> str:
        return f"${txn_id}"

    async def find_sent(self, room_id: str, txn_id: str) -> str | None:
        return None

    def is_encrypted(self, room_id: str) -> bool:
        return False

    async def fetch_is_encrypted(self, room_id: str) -> bool:
        return False

    def display_name(self, room_id: str, user_id: str) -> str:
        return user_id.split(":")[0].lstrip("@")

    async def may_redact_others(self, room_id: str) -> bool:
        return False

    async def membership(self, room_id: str, user_id: str) -> str | None:
        return "join"

    async def invite(self, room_id: str, user_id: str) -> bool:
        return True

    async def create_direct_room(self, user_id: str, *, encrypted: bool) -> str | None:
        return None

    async def room_name(self, room_id: str) -> str | None:
        return "Groupe de travail"

    async def resolve_alias(self, alias: str) -> str | None:
        return None

    async def upload_file(
        self, data: bytes, *, content_type: str, filename: str, encrypt: bool
    ) -> dict[str, Any]:
        return {"url": "mxc://local/file"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def timed(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[list[float], int, int]:
    """Milliseconds of each request, the status and the body size of the last one."""
    times, status, size = [], 0, 0
    for _ in range(REQUESTS):
        started = time.perf_counter()
        async with http.get(url, headers=headers or {}) as response:
            body = await response.read()
            status, size = response.status, len(body)
        times.append((time.perf_counter() - started) * 1000)
    return times, status, size


async def main() -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        config = load_config(
            EXAMPLE,
            environ=environment(
                {
                    ("matrix", "homeserver"): "http://127.0.0.1:1",
                    ("matrix", "user_id"): "@concerto:example.org",
                    ("storage", "data_dir"): folder,
                    ("web", "listen"): f"127.0.0.1:{port}",
                    ("web", "public_url"): f"http://127.0.0.1:{port}",
                }
            ),
        )
        database = Database.from_url(config.database_url)
        database.migrate()
        seeding = time.monotonic()
        rows = seed_year(database, [ROOM], end=END)
        seeded_in = time.monotonic() - seeding
        clock = FrozenClock(END)
        gateway = QuietGateway()

        async def level(room_id: str, user_id: str) -> float:
            return 0

        runtime = build_runtime(
            config,
            database=database,
            clock=clock,
            gateway=gateway,
            power_level=level,
            display_name=gateway.display_name,
        )
        web = WebService(
            config.web,
            database=database,
            clock=clock,
            gateway=gateway,
            pages=runtime.services.links.pages,
            health=Health(database, clock, lambda: SyncState(time.monotonic(), 0)),
            limiter=AddressLimiter(per_minute=10**7, burst=10**7),
        )
        with database.session() as session:
            links = WebLinkRepository(session)
            tokens = {kind: links.get_or_add(ROOM, kind, END).token for kind in
                      ("agenda", "proposals", "digest")}  # fmt: skip
        base = config.web.public_url
        feed = f"{base}/agenda/{tokens['agenda']}/agenda.ics"
        proposals = f"{base}/proposals/{tokens['proposals']}"
        archive = f"{base}/digest/{tokens['digest']}"
        last_week = f"{END.isocalendar().year}-W{END.isocalendar().week - 1:02d}"
        await web.start()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(feed) as response:
                    etag = response.headers["ETag"]
                measured = [
                    ("calendar feed (whole)", await timed(http, feed)),
                    ("calendar feed (ETag: 304)", await timed(http, feed, {"If-None-Match": etag})),
                    ("proposals page (all)", await timed(http, proposals)),
                    ("proposals page (one theme)", await timed(http, proposals + "?tag=emploi")),
                    ("digest archive (index of weeks)", await timed(http, archive)),
                    (f"digest page ({last_week})", await timed(http, f"{archive}/{last_week}")),
                    ("/healthz", await timed(http, f"{base}/healthz")),
                ]
        finally:
            await web.stop()
            database.close()
    result_rows = []
    for name, (times, status, size) in measured:
        stats = summary(times)
        result_rows.append(
            (name, status, f"{size / 1024:.1f}", f"{stats['median']:.1f}", f"{stats['p95']:.1f}",
             f"{stats['max']:.1f}")
        )  # fmt: skip
    body = table(["request", "status", "KiB", "median ms", "p95 ms", "max ms"], result_rows)
    append_report(
        "Web pages: a room with a year of history",
        body,
        started=started,
        notes=[
            f"{REQUESTS} requests per line, one at a time, over HTTP on 127.0.0.1 to the bot's web "
            "service (aiohttp on the bot's event loop), the bot's runtime built from "
            "config.example.toml with [web] on; no homeserver (the pages read the database only).",
            f"One room's year (`benchmarks/year_of_history.py`, seeded in {seeded_in:.1f} s): "
            f"{rows.get('proposal', 0)} proposals, {rows.get('agenda_item', 0)} events and "
            f"deadlines, {rows.get('digest_run', 0)} digests; SQLite.",
            "The per-address limit (30 at once, then 60 a minute) is raised for the measuring "
            "client, which makes hundreds of requests from one address.",
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
