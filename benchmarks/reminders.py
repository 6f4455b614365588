"""Reminder punctuality: 100 reminders due at the same instant, then 100 spread over a minute.

An organiser announces 200 deadlines (``!échéance R<n> ; HH:MM:SS ; rappels: 1min``), so each
reminder falls due exactly one minute before its deadline, at a second we chose. Lateness is
the reminder event's ``origin_server_ts`` minus that due time (read back from the bot's
database, and checked against ours). A reminder must never be early (minimum ≥ 0).

All reminders are in one room: the worst case, since the bot sends a room's messages in order.

Run: ``python benchmarks/reminders.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import sqlite3
import time
from zoneinfo import ZoneInfo

from common import (
    PROFILE,
    BotProcess,
    Person,
    append_report,
    register,
    room_with,
    summary,
    table,
    workspace,
)
from matrix_people import WaitTimeout

PER_BATCH = 100
IN_FLIGHT = 8
ROOM_TZ = ZoneInfo("Europe/Paris")  # the bot's default room timezone
OFFSET = dt.timedelta(minutes=1)
FIRST_DUE_AFTER = 75  # seconds: time to announce 200 deadlines first
SPREAD_START_AFTER = 20  # seconds after the simultaneous batch
SPREAD_OVER = 60  # seconds
TARGET_P99_MS = 1000


def is_reminder(bot_id: str):
    def match(event: dict) -> bool:
        content = event.get("content") or {}
        return (
            event.get("sender") == bot_id
            and event.get("type") == "m.room.message"
            and content.get("msgtype") == "m.text"
        )

    return match


def is_notice(bot_id: str):
    def match(event: dict) -> bool:
        content = event.get("content") or {}
        return event.get("sender") == bot_id and content.get("msgtype") == "m.notice"

    return match


async def wait_count(person: Person, room_id: str, predicate, count: int, quiet: float) -> int:
    """Wait until ``count`` events match (or nothing new for ``quiet`` s); return how many."""
    matched = [e for e in person.events(room_id) if predicate(e)]
    last = person.events(room_id)[-1]["event_id"]
    while len(matched) < count:
        try:
            found = await person.wait_for(room_id, predicate, quiet, after=last)
        except WaitTimeout:
            break
        last = found["event_id"]
        matched = [e for e in person.events(room_id) if predicate(e)]
    return len(matched)


def read_bot_database(bot: BotProcess) -> dict[str, tuple[dt.datetime, str | None]]:
    """Task key → (due time, event ID of the reminder sent for it)."""
    uri = f"file:{bot.database_path}?mode=ro"
    with sqlite3.connect(uri, uri=True) as connection:
        tasks = connection.execute(
            "SELECT key, due_at FROM scheduled_task WHERE key LIKE 'reminder:%'"
        ).fetchall()
        sent = dict(
            connection.execute(
                "SELECT key, event_id FROM outbox_message WHERE key LIKE 'task:reminder:%'"
            ).fetchall()
        )
    result = {}
    for key, due_text in tasks:
        due = dt.datetime.fromisoformat(str(due_text))
        if due.tzinfo is None:
            due = due.replace(tzinfo=dt.UTC)
        result[key] = (due, sent.get(f"task:{key}"))
    return result


async def main() -> None:
    started = time.monotonic()
    async with workspace("reminders") as (folder, server):
        organiser_account = await register(server, "organiser")
        bot = BotProcess(server, await register(server, "concerto"), folder / "concerto")
        bot.start(profile=PROFILE)
        organiser = await Person.start(server.url, organiser_account)
        try:
            room_id = await room_with(organiser, bot.user_id, "rappels")
            now = dt.datetime.now(dt.UTC)
            same = dt.datetime.fromtimestamp(math.ceil(now.timestamp()) + FIRST_DUE_AFTER, dt.UTC)
            spread_start = same + dt.timedelta(seconds=SPREAD_START_AFTER)
            planned: dict[str, list[dt.datetime]] = {
                "same instant": [same] * PER_BATCH,
                "spread over a minute": [
                    spread_start + dt.timedelta(seconds=int(i * SPREAD_OVER / PER_BATCH))
                    for i in range(PER_BATCH)
                ],
            }
            commands = []
            for batch, dues in planned.items():
                for index, due in enumerate(dues):
                    deadline = (due + OFFSET).astimezone(ROOM_TZ).strftime("%H:%M:%S")
                    title = f"{'A' if batch == 'same instant' else 'B'}{index}"
                    commands.append(f"!échéance {title} ; {deadline} ; rappels: 1min")
            gate = asyncio.Semaphore(IN_FLIGHT)

            async def send(body: str) -> None:
                async with gate:
                    await organiser.send_text(room_id, body)

            sending_started = time.monotonic()
            await asyncio.gather(*(send(body) for body in commands))
            announced = await wait_count(
                organiser, room_id, is_notice(bot.user_id), len(commands), 30
            )
            announce_seconds = time.monotonic() - sending_started
            print(f"{announced} deadlines announced in {announce_seconds:.1f} s", flush=True)
            if dt.datetime.now(dt.UTC) > same - dt.timedelta(seconds=2):
                raise SystemExit("announcing took too long: raise FIRST_DUE_AFTER")
            cpu = bot.cpu_seconds()
            received = await wait_count(
                organiser,
                room_id,
                is_reminder(bot.user_id),
                len(commands),
                SPREAD_START_AFTER + SPREAD_OVER + 60,
            )
            fire_cpu = bot.cpu_seconds() - cpu
            rss = bot.rss_mib()
            events = {e["event_id"]: e for e in organiser.events(room_id)}
            reminders = [e for e in organiser.events(room_id) if is_reminder(bot.user_id)(e)]
            stored = read_bot_database(bot)
        finally:
            await organiser.close()
            await bot.stop()

    lateness: dict[str, list[float]] = {batch: [] for batch in planned}
    expected = {
        due: batch for batch, dues in planned.items() for due in dues
    }  # due time → batch (the two batches never share a due time)
    mismatched = 0
    for due, event_id in stored.values():
        which = expected.get(due)
        if which is None:
            mismatched += 1
            continue
        event = events.get(event_id or "")
        if event is None:
            continue
        lateness[which].append(event["origin_server_ts"] - due.timestamp() * 1000)
    rows = []
    for batch, values in lateness.items():
        s = summary(values) if values else None
        rows.append(
            (
                batch,
                f"{len(values)}/{PER_BATCH}",
                f"{s['min']:.0f}" if s else "—",
                f"{s['median']:.0f}" if s else "—",
                f"{s['p99']:.0f}" if s else "—",
                f"{s['max']:.0f}" if s else "—",
            )
        )
    every = [value for values in lateness.values() for value in values]
    never_early = bool(every) and min(every) >= 0
    p99_all = max(summary(values)["p99"] for values in lateness.values() if values)
    body = (
        table(["reminders due", "sent", "min ms", "median ms", "p99 ms", "max ms"], rows)
        + f"\n\n{received} reminder events seen in the room for {len(commands)} planned "
        f"(duplicates: {max(0, len(reminders) - len(commands))}); due times in the bot's "
        f"database that differ from the planned ones: {mismatched}. Never early: "
        f"{'yes' if never_early else 'NO'}. p99 < {TARGET_P99_MS} ms: "
        f"{'met' if p99_all < TARGET_P99_MS else 'NOT met'}. Announcing the 200 deadlines took "
        f"{announce_seconds:.1f} s; bot CPU while the reminders fired: {fire_cpu:.1f} s; "
        f"RSS {rss:.0f} MiB."
    )
    notes = [
        "Lateness = reminder `origin_server_ts` − due time (deadline − 1 min); it includes the "
        "homeserver accepting the event. All 200 reminders are in one room.",
        "2 cores shared by Synapse, the bot and the client; other engineers were running test "
        "suites on the same machine at the time.",
    ]
    append_report("Reminders: lateness", body, started=started, notes=notes)
    if PROFILE:
        print(bot.profile)


if __name__ == "__main__":
    asyncio.run(main())
