"""The bot in 1,000 rooms with a year of history: restart time, memory, commands over a year of
data, the daily purge, and the cost of one sync.

Setup: an organiser creates 1,000 rooms, inviting the bot (it joins each), then talks in every
room through the homeserver (2 messages and 1 ``!proposition``, which the bot stores and marks
with a 📝 reaction). The bot is stopped and its database receives a year of each room's activity
(``year_of_history.py``: proposals, supports, events, RSVPs, polls and ballots, digests, sent
messages, done timers), as the bot would have stored it: a year of messages through the
homeserver would take hours here, and what a year changes for the bot is its own database (at
restart it syncs from its stored token; the rooms' old timelines are not read again).

Measured after a restart (SIGTERM, then start on the same data):

- time from process start to the first answered command (``!aide aide`` sent at start);
- round trips of the commands that read a year of data in one room (``!propositions``,
  ``!agenda``, ``!résumé``);
- the daily retention purge over that year (the bot's own code, run on its database after the
  bot stopped): with the default 365 days, and with 90 days (a deployer shortening it);
- resident memory (VmRSS) of the bot process, after the first answer and after 20 commands;
- command → reply round trip once running (20 sequential commands);
- the cost of one sync for the bot's account: the full-state sync the bot makes at start, an
  initial sync, and an incremental one (HTTP time, size, matrix-nio parse time).

Run: ``python benchmarks/scale.py [rooms]``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
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
from year_of_history import seed_year

from handlers.privacy.retention import PURGE_STEP
from storage.db import Database
from storage.privacy import PrivacyRepository, PurgeReport
from storage.state import ProcessedEventRepository

ROOMS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
IN_FLIGHT = 8
BOT_SYNC_FILTER: dict[str, Any] = {  # the bot's own filter (bot.matrix.sync.SYNC_FILTER)
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


def timed_erasure_scrub(bot: BotProcess) -> str:
    """Search the year of sent messages for one person's ID and texts, as `!oublie-moi` does."""
    database = Database.from_url(f"sqlite:///{bot.database_path}")
    started = time.perf_counter()
    with database.session() as session:
        scrubbed = PrivacyRepository(session).scrub_sent(
            ["@membre0-3:year.test", "Idée 17 : mutualiser les locaux et les outils"]
        )
    elapsed = time.perf_counter() - started
    database.close()
    return f"{elapsed:.2f} s ({scrubbed:,} copies emptied)"


def timed_purge(bot: BotProcess, retention_days: int) -> str:
    """The daily purge's steps, run on the bot's database (bot stopped): total time, and the
    longest step (how long the bot would not answer)."""
    database = Database.from_url(f"sqlite:///{bot.database_path}")
    now = dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=retention_days)
    report = PurgeReport()
    steps: list[float] = []
    while True:
        started = time.perf_counter()
        with database.session() as session:
            step = PrivacyRepository(session).purge_step(cutoff, PURGE_STEP)
        steps.append(time.perf_counter() - started)
        report.add(step)
        if not step.rows:
            break
    started = time.perf_counter()
    with database.session() as session:
        processed = ProcessedEventRepository(session).delete_older_than(now - dt.timedelta(days=30))
    steps.append(time.perf_counter() - started)
    database.close()
    return (
        f"{sum(steps):.2f} s in {len(steps)} steps, longest {max(steps) * 1000:.0f} ms "
        f"({report.proposals:,} proposals, {report.ballots:,} ballots, "
        f"{report.sent_messages:,} sent messages emptied, {processed:,} handled events)"
    )


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
            processed = query(bot, "SELECT count(*) FROM processed_event")[0][0]
            year_started = time.monotonic()
            year_end = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
            database = Database.from_url(f"sqlite:///{bot.database_path}")
            year_rows = seed_year(database, rooms, end=year_end)
            database.close()
            year_seconds = time.monotonic() - year_started
            print(f"a year written in {year_seconds:.0f} s: {year_rows}", flush=True)
            database_mib = bot.database_path.stat().st_size / 1024 / 1024
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
            year_commands = {}
            for command in ("!propositions", "!agenda", "!résumé"):
                times = []
                for _ in range(5):
                    sent_at = time.perf_counter()
                    event_id = await probe.send_text(rooms[0], command)
                    await probe.wait_for(rooms[0], reply_to(bot.user_id, event_id), timeout=60)
                    times.append((time.perf_counter() - sent_at) * 1000)
                year_commands[command] = summary(times)["median"]
            rss_year = bot.rss_mib()

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
        erasure = timed_erasure_scrub(bot)
        purges = {days: timed_purge(bot, days) for days in (365, 90)}

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
            (
                "a year of activity written into the bot's database",
                f"{sum(year_rows.values()):,} rows in {year_seconds:.0f} s "
                f"({year_rows.get('proposal', 0):,} proposals, "
                f"{year_rows.get('outbox_message', 0):,} sent messages, "
                f"{year_rows.get('poll_ballot', 0):,} ballots)",
            ),
            ("bot database size", f"{database_mib:.0f} MiB"),
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
                "a year of one room: !propositions / !agenda / !résumé, median (n=5)",
                " / ".join(f"{value:.0f} ms" for value in year_commands.values()),
            ),
            ("RSS after those commands", f"{rss_year:.0f} MiB"),
            ("`!oublie-moi`: finding their texts in the sent messages", erasure),
            *((f"daily purge with retention {days} days", purge) for days, purge in purges.items()),
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
        "Homeserver history per room: the creation state and 3 messages (one a `!proposition` the "
        "bot stored and reacted to). The bot's database holds a year of activity per room "
        "(`benchmarks/year_of_history.py`), written while the bot was stopped.",
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
