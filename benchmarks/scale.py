"""The bot in 1,000 rooms with some history: restart time, memory, and the cost of one sync.

Setup: an organiser creates 1,000 rooms, inviting the bot (it joins each), then seeds a small
history in every room (2 messages and 1 ``!proposition``, which the bot stores and marks with a
📝 reaction). A year of history is not realistic to seed here; this is ~4 events per room in the
bot's timeline plus the rooms' creation state.

Measured after a restart (SIGTERM, then start on the same data):

- time from process start to the first answered command (``!aide aide`` sent at start);
- resident memory (VmRSS) of the bot process, after the first answer and after 20 commands;
- command → reply round trip once running (20 sequential commands);
- the cost of one sync for the bot's account: the full-state sync the bot makes at start, an
  initial sync, and an incremental one (HTTP time, size, matrix-nio parse time).

Run: ``python benchmarks/scale.py [rooms]``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from typing import Any

import aiohttp
from common import (
    PROFILE,
    BotProcess,
    Person,
    append_report,
    register,
    reply_to,
    summary,
    table,
    workspace,
)
from nio import AsyncClient, AsyncClientConfig, RoomCreateResponse, RoomSendResponse, SyncResponse

ROOMS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
IN_FLIGHT = 8
BOT_SYNC_FILTER: dict[str, Any] = {  # the bot's own filter (bot.sync.SYNC_FILTER)
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        "timeline": {"limit": 100},
        "state": {"lazy_load_members": True},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}


def query(bot: BotProcess, sql: str) -> list[tuple[Any, ...]]:
    if not bot.database_path.exists():
        return []
    uri = f"file:{bot.database_path}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True, timeout=5) as connection:
            return connection.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return []


async def until(check, what: str, timeout: float = 900) -> float:  # noqa: ASYNC109
    """Poll ``check()`` once a second (a benchmark may poll a database); return the time."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(1)
    return time.monotonic() - started


async def in_parallel(count: int, action) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(index: int) -> None:
        async with gate:
            await action(index)

    await asyncio.gather(*(one(index) for index in range(count)))


async def timed_sync(url: str, token: str, **params: str) -> tuple[float, int, dict[str, Any]]:
    """One /sync with the bot's filter: seconds, bytes, parsed JSON."""
    query_params = {"filter": json.dumps(BOT_SYNC_FILTER), "timeout": "0", **params}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.get(
            f"{url}/_matrix/client/v3/sync", params=query_params, headers=headers
        ) as response:
            raw = await response.read()
        elapsed = time.perf_counter() - started
    return elapsed, len(raw), json.loads(raw)


async def nio_parse_seconds(url: str, user_id: str, data: dict[str, Any]) -> float:
    """What matrix-nio spends turning a sync body into its room state (as the bot does)."""
    client = AsyncClient(url, user_id, config=AsyncClientConfig(store_sync_tokens=False))
    started = time.perf_counter()
    response = SyncResponse.from_dict(data)
    await client.receive_response(response)
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


async def main() -> None:
    started = time.monotonic()
    async with workspace("scale") as (folder, server):
        organiser_account = await register(server, "organiser")
        probe_account = await register(server, "probe")
        bot = BotProcess(server, await register(server, "concerto"), folder / "concerto")
        bot.start()
        organiser = AsyncClient(server.url, organiser_account.user_id)
        organiser.restore_login(
            organiser_account.user_id, organiser_account.device_id, organiser_account.access_token
        )
        probe = await Person.start(server.url, probe_account)
        rooms: list[str] = [""] * ROOMS
        try:
            await until(lambda: query(bot, "SELECT 1 FROM key_value WHERE key='sync_token'"), "bot")

            async def create(index: int) -> None:
                invite = [bot.user_id] + ([probe.user_id] if index == 0 else [])
                response = await organiser.room_create(name=f"Groupe {index}", invite=invite)
                assert isinstance(response, RoomCreateResponse), response
                rooms[index] = response.room_id

            setup_started = time.monotonic()
            await in_parallel(ROOMS, create)
            created_seconds = time.monotonic() - setup_started
            await probe.join(rooms[0])
            joined_seconds = await until(
                lambda: (
                    query(bot, "SELECT count(*) FROM room_settings WHERE joined_at IS NOT NULL")[0][
                        0
                    ]
                    >= ROOMS
                ),
                "joins",
            )
            print(f"{ROOMS} rooms created in {created_seconds:.0f} s", flush=True)

            async def seed(index: int) -> None:
                for body in (
                    f"Bonjour groupe {index}",
                    f"!proposition Idée {index} pour le groupe #numérique",
                    "Merci !",
                ):
                    response = await organiser.room_send(
                        rooms[index], "m.room.message", {"msgtype": "m.text", "body": body}
                    )
                    assert isinstance(response, RoomSendResponse), response

            seed_started = time.monotonic()
            await in_parallel(ROOMS, seed)
            await until(
                lambda: (
                    query(bot, "SELECT count(*) FROM proposal")[0][0] >= ROOMS
                    and query(bot, "SELECT count(*) FROM outbox_message WHERE status='pending'")[0][
                        0
                    ]
                    == 0
                ),
                "seeding",
            )
            seed_seconds = time.monotonic() - seed_started
            print(f"history seeded in {seed_seconds:.0f} s", flush=True)
            rss_before_restart = bot.rss_mib()
            await bot.stop()
            database_mib = bot.database_path.stat().st_size / 1024 / 1024
            processed = query(bot, "SELECT count(*) FROM processed_event")[0][0]
            since = query(bot, "SELECT value FROM key_value WHERE key='sync_token'")[0][0]
            credentials = json.loads((bot.directory / "data" / "credentials.json").read_text())

            # --- restart with a command waiting -------------------------------------------
            bot.start(profile=PROFILE)
            restart_started = time.monotonic()
            first = await probe.send_text(rooms[0], "!aide aide")
            await probe.wait_for(rooms[0], reply_to(bot.user_id, first), timeout=300)
            first_answer = time.monotonic() - restart_started
            rss_first = bot.rss_mib()
            cpu_start = bot.cpu_seconds()
            round_trips = []
            for _ in range(20):
                sent_at = time.perf_counter()
                event_id = await probe.send_text(rooms[0], "!aide aide")
                await probe.wait_for(rooms[0], reply_to(bot.user_id, event_id), timeout=60)
                round_trips.append((time.perf_counter() - sent_at) * 1000)
            rss_after = bot.rss_mib()

            # --- the cost of one sync ------------------------------------------------------
            token = credentials["access_token"]
            full = await timed_sync(server.url, token, since=since, full_state="true")
            initial = await timed_sync(server.url, token)
            incremental = await timed_sync(server.url, token, since=initial[2]["next_batch"])
            full_parse = await nio_parse_seconds(server.url, bot.user_id, full[2])
            initial_parse = await nio_parse_seconds(server.url, bot.user_id, initial[2])
        finally:
            await probe.close()
            await organiser.close()
            await bot.stop()

    rt = summary(round_trips)
    body = table(
        ["measure", "value"],
        [
            ("rooms (bot joined all)", ROOMS),
            (
                "setup: rooms created / all joined by the bot / history seeded",
                f"{created_seconds:.0f} s / {joined_seconds:.0f} s / {seed_seconds:.0f} s",
            ),
            ("events handled by the bot before the restart", processed),
            ("bot database size", f"{database_mib:.1f} MiB"),
            ("**start → first answered command** (restart)", f"**{first_answer:.1f} s**"),
            ("bot CPU from start to the first answer", f"{cpu_start:.1f} s"),
            ("RSS before the restart (after setup)", f"{rss_before_restart:.0f} MiB"),
            (
                "RSS after the first answer / after 20 more commands",
                f"{rss_first:.0f} / {rss_after:.0f} MiB",
            ),
            (
                "command → reply once running, median / p95 (n=20)",
                f"{rt['median']:.0f} / {rt['p95']:.0f} ms",
            ),
            (
                "full-state sync since the stored token (what a restart does)",
                f"{full[0]:.2f} s, {full[1] / 1024:.0f} KiB, nio parse {full_parse:.2f} s",
            ),
            (
                "initial sync (no token)",
                f"{initial[0]:.2f} s, {initial[1] / 1024:.0f} KiB, nio parse {initial_parse:.2f} s",
            ),
            (
                "incremental sync, nothing new",
                f"{incremental[0] * 1000:.0f} ms, {incremental[1]} B",
            ),
        ],
    )
    notes = [
        "History is small: per room the creation state, 3 messages (one a `!proposition` the bot "
        "stored and reacted to), not a year of activity.",
        "Syncs measured with the bot's filter and access token from a separate client, after "
        "the bot had answered; HTTP time includes Synapse building the response.",
        "2 cores shared by Synapse, the bot and the clients; other engineers were running test "
        "suites on the same machine at the time.",
    ]
    append_report(f"Scale: {ROOMS} rooms", body, started=started, notes=notes)
    if PROFILE:
        print(bot.profile)


if __name__ == "__main__":
    asyncio.run(main())
