"""Recurring events at scale: does a year of 1,000 rooms each with 3 weekly series change the
bot's start-up time and memory?

The bot's database holds a year of 1,000 rooms' activity (``year_of_history.py``), written
while the bot is stopped. Three databases are compared, each restarted several times in turn
(the real bot process, the shipped configuration, a throwaway Synapse):

- **baseline**: the year, without recurring events;
- **series, armed**: the same year plus 3 weekly series per room started a year ago, stored as
  the bot stores them (one row each, its rule), with the year's reminders sent (7d, 1d, 1h:
  156 done timer rows per series) and the next one pending: what every restart sees;
- **series, to arm**: the same without the pending reminders (every series is armed at start,
  as after a long downtime or the upgrade that brings recurrence).

Measured at each restart: process start → started (the log line that follows the timers'
rebuild and the series' arming), process start → first answered command (``!aide aide`` sent
at start, in the one room the bot is really in, which holds 3 of the series; the bot may answer
it before its timers are armed), CPU and resident memory once both happened, and ``!agenda`` in
that room once running. Every restart resumes from the
sync token the previous one left, as a real restart does, and the databases take turns in a
rotating order. The other 999 rooms exist only in
the bot's database: what the series change at start is the bot's own work (timers rebuilt,
series armed), not the homeserver's.

Run: ``python benchmarks/recurring_series.py [rooms] [restarts]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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
from sqlalchemy import insert
from year_of_history import seed_year

import storage.tables  # noqa: F401  (registers every table)
from bot.text.recurrence import Rule, occurrences
from handlers.agenda.args import reminder_due
from storage.agenda_models import AgendaItem
from storage.db import Database
from storage.models import ScheduledTask

ROOMS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
RESTARTS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
SERIES_PER_ROOM = 3
PARIS = "Europe/Paris"
OFFSETS = (dt.timedelta(days=7), dt.timedelta(days=1), dt.timedelta(hours=1))
OFFSET_NAMES = ("7d", "1d", "1h")


def query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows from the bot's database; none while the bot has not created it yet."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            return list(db.execute(sql))
    except sqlite3.OperationalError:
        return []


def restore(variant: Path, database: Path) -> None:
    """Put a copy of ``variant`` in place of the bot's database, resuming from the sync token
    the bot left at its last stop, as a real restart does: a copy with an older token would
    catch up on every earlier restart's commands, more at each restart."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        row = connection.execute("SELECT value FROM key_value WHERE key = 'sync_token'").fetchone()
    for leftover in ("-wal", "-shm"):  # the last run's journal, not the copy's
        Path(f"{database}{leftover}").unlink(missing_ok=True)
    shutil.copy(variant, database)
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("UPDATE key_value SET value = ? WHERE key = 'sync_token'", row)


def seed_series(database: Database, rooms: list[str], *, now: dt.datetime, armed: bool) -> int:
    """3 weekly series per room, started a year ago, their reminders of the year sent; with
    ``armed``, the next reminder of each pending (as the bot leaves it). Returns rows written."""
    tz = ZoneInfo(PARIS)
    start = now - dt.timedelta(days=365)
    written = 0
    with database.engine.begin() as connection:
        next_id = (connection.exec_driver_sql("SELECT max(id) FROM agenda_item").scalar() or 0) + 1
        items: list[dict[str, Any]] = []
        tasks: list[dict[str, Any]] = []
        for room_index, room_id in enumerate(rooms):
            for n in range(SERIES_PER_ROOM):
                weekday = (room_index + 2 * n) % 5
                rule = Rule("weekly", dt.time(17 + n, 0), weekday=weekday)
                first = next(occurrences(rule, start, tz, after=start))
                item_id, next_id = next_id, next_id + 1
                items.append(
                    {
                        "id": item_id, "kind": "event", "room_id": room_id,
                        "title": f"Réunion {n + 1} du groupe {room_index}", "starts_at": first,
                        "ends_at": None, "place": None, "link": None, "reminders": "7j, 1j, 1h",
                        "timezone": PARIS, "author": "@organiser:bench", "status": "active",
                        "announcement_event_id": None, "created_at": start, "cancelled_at": None,
                        "recurrence": rule.rrule_text(), "last_at": None,
                    }
                )  # fmt: skip
                for meeting in occurrences(rule, first, tz):
                    dues = [
                        (reminder_due(meeting, offset, tz), name)
                        for offset, name in zip(OFFSETS, OFFSET_NAMES, strict=True)
                    ]
                    past = [(due, name) for due, name in dues if due <= now]
                    for due, name in past:
                        tasks.append(_task(room_id, item_id, meeting, due, name, "done"))
                    if len(past) < len(dues):
                        due, name = dues[len(past)]
                        if armed:
                            tasks.append(_task(room_id, item_id, meeting, due, name, "pending"))
                        break
        for rows, model in ((items, AgendaItem), (tasks, ScheduledTask)):
            for index in range(0, len(rows), 5000):
                connection.execute(insert(model.__table__), rows[index : index + 5000])  # type: ignore[attr-defined]
            written += len(rows)
    return written


def _task(
    room_id: str, item_id: int, meeting: dt.datetime, due: dt.datetime, name: str, status: str
) -> dict[str, Any]:
    return {
        "key": f"reminder:E{item_id}:{meeting:%Y%m%dT%H%M}:{name}",
        "kind": "event_reminder",
        "room_id": room_id,
        "due_at": due,
        "status": status,
        "payload": {
            "item_id": item_id,
            "label": f"E{item_id}",
            "starts_at": meeting.isoformat(),
            "occurs_at": meeting.isoformat(),
            "timezone": PARIS,
        },
        "created_at": due,
        "done_at": due if status == "done" else None,
    }


RUNNING = b"Concerto is running as"  # logged once the timers are rebuilt and series armed


async def restart(bot: BotProcess, probe: Person, room_id: str) -> dict[str, float]:
    logged = bot.log_path.stat().st_size if bot.log_path.exists() else 0
    bot.start(profile=PROFILE)
    started = time.monotonic()
    running = asyncio.create_task(log_line(bot, RUNNING, after=logged))
    first = await probe.send_text(room_id, "!aide aide")
    await probe.wait_for(room_id, reply_to(bot.user_id, first), timeout=300)
    answered = time.monotonic() - started
    ready = await asyncio.wait_for(running, timeout=300) - started
    rss = bot.rss_mib()
    cpu = bot.cpu_seconds()
    agenda = []
    for _ in range(3):
        sent_at = time.perf_counter()
        event_id = await probe.send_text(room_id, "!agenda")
        await probe.wait_for(room_id, reply_to(bot.user_id, event_id), timeout=60)
        agenda.append((time.perf_counter() - sent_at) * 1000)
    await bot.stop()
    return {
        "first": answered,
        "ready": ready,
        "rss": rss,
        "cpu": cpu,
        "agenda": summary(agenda)["median"],
    }


async def log_line(bot: BotProcess, line: bytes, *, after: int) -> float:
    """When ``line`` appears in the bot's log past offset ``after`` (looked for every 10 ms)."""
    while True:
        with bot.log_path.open("rb") as log:
            log.seek(after)
            if line in log.read():
                return time.monotonic()
        await asyncio.sleep(0.01)


async def main() -> None:
    started = time.monotonic()
    async with workspace("recurring") as (folder, server):
        probe_account = await register(server, "probe")
        bot = BotProcess(server, await register(server, "concerto"), folder / "concerto")
        bot.start()
        probe = await Person.start(server.url, probe_account)
        try:
            room_id = await probe.create_room("Groupe 0", invite=[bot.user_id])
            joined_at = time.monotonic()
            while not query(
                bot.database_path,
                "SELECT 1 FROM room_settings WHERE joined_at IS NOT NULL",
            ):
                if time.monotonic() - joined_at > 120:
                    raise SystemExit("the bot did not join")
                await asyncio.sleep(1)
            await bot.stop()
            rooms = [room_id] + [f"!bench{index}:{server.server_name}" for index in range(1, ROOMS)]
            now = dt.datetime.now(dt.UTC)
            database = Database.from_url(f"sqlite:///{bot.database_path}")
            year_rows = sum(seed_year(database, rooms, end=now - dt.timedelta(days=1)).values())
            database.close()
            variants: dict[str, Path] = {"baseline": folder / "baseline.db"}
            shutil.copy(bot.database_path, variants["baseline"])
            series_rows = 0
            for name, armed in (("series, armed", True), ("series, to arm", False)):
                variants[name] = folder / f"{'armed' if armed else 'unarmed'}.db"
                shutil.copy(variants["baseline"], variants[name])
                copy = Database.from_url(f"sqlite:///{variants[name]}")
                series_rows = seed_series(copy, rooms, now=now, armed=armed)
                copy.close()
            sizes = {name: path.stat().st_size / 1024 / 1024 for name, path in variants.items()}
            results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            names = list(variants)
            for round_number in range(RESTARTS):
                # each database in each place of the order across rounds
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    restore(variants[name], bot.database_path)
                    results[name].append(await restart(bot, probe, room_id))
                    print(name, results[name][-1], flush=True)
                    if PROFILE:
                        print(bot.profile, flush=True)
        finally:
            await probe.close()
            await bot.stop()

    def median(name: str, field: str) -> float:
        return summary([run[field] for run in results[name]])["median"]

    def each(name: str, field: str) -> str:
        return ", ".join(f"{run[field]:.1f}" for run in results[name])

    rows = [
        (
            name,
            f"{sizes[name]:.0f} MiB",
            f"**{median(name, 'ready'):.1f} s** ({each(name, 'ready')})",
            f"{median(name, 'first'):.1f} s ({each(name, 'first')})",
            f"{median(name, 'cpu'):.1f} s",
            f"{median(name, 'rss'):.0f} MiB",
            f"{median(name, 'agenda'):.0f} ms",
        )
        for name in results
    ]
    body = table(
        [
            "database",
            "size",
            "start → started (timers armed), median (each run)",
            "start → first answer",
            "bot CPU by then",
            "RSS then",
            "`!agenda` (3 series), median",
        ],
        rows,
    )
    notes = [
        f"{ROOMS} rooms, a year of activity each ({year_rows:,} rows, "
        "`benchmarks/year_of_history.py`); the series databases add "
        f"{SERIES_PER_ROOM} weekly series per room started a year ago ({series_rows:,} rows: "
        "the series and their year of sent reminders).",
        f"{RESTARTS} restarts of each database, in a rotating order, each resuming from the "
        "sync token the last one left; the bot is in one room on the homeserver, the others "
        "exist only in its database.",
        "2 cores shared by Synapse, the bot and the client; other engineers were running test "
        "suites on the same machine at the time.",
    ]
    append_report(
        f"Recurring events: {ROOMS} rooms × {SERIES_PER_ROOM} weekly series",
        body,
        started=started,
        notes=notes,
    )


if __name__ == "__main__":
    asyncio.run(main())
