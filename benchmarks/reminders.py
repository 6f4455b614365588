"""Reminder punctuality: 100 reminders due at the same instant, 100 spread over a minute, and
100 due at the same instant spread over 10 rooms.

An organiser announces 300 deadlines (``!échéance A<n> ; HH:MM:SS ; rappels: 1min``), so each
reminder falls due exactly one minute before its deadline, at a second we chose. Reminders due
together in one room go out as one message listing them (at most 20 per message), so each
reminder is found by its title (« A7 ») in the bot's messages. Its lateness is that message's
``origin_server_ts`` minus the due time (checked against the bot's database). A reminder must
never be early (minimum ≥ 0) and must appear in exactly one message.

The bot runs the shipped defaults, pacing included. The organiser (each room's creator) is not
paced, but more than ``commands_per_minute + max_waiting_commands`` commands from them in one
minute in one room is a flood, refused. So each batch is announced in its own room (the
"10 rooms" batch in its 10): at most 100 commands per room, and none is refused or waits its
turn. The benchmark checks it: every command must be answered (its deadline announced), and
the bot's pacing notices — that it is catching up (sent at a person's first waiting command in
a room) or that commands were refused in a flood — are counted; both must be 0.

Run: ``python benchmarks/reminders.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import re
import sqlite3
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from common import (
    FLOOD,
    PROFILE,
    SHIPPED,
    BotProcess,
    Person,
    append_report,
    pacing_notice,
    register,
    room_with,
    summary,
    table,
    workspace,
)
from matrix_people import WaitTimeout

PER_BATCH = 100
ROOMS_OF_SPREAD_BATCH = 10
IN_FLIGHT = 8
ROOM_TZ = ZoneInfo("Europe/Paris")  # the bot's default room timezone
OFFSET = dt.timedelta(minutes=1)
FIRST_DUE_AFTER = 100  # seconds: time to announce 300 deadlines first
# An organiser's commands in one room past this many in one minute are refused as a flood.
ORGANISER_FLOOD = SHIPPED.commands_per_minute + SHIPPED.max_waiting_commands
OTHER_ROOMS_AFTER = 10  # seconds after the one-room simultaneous batch
SPREAD_START_AFTER = 20  # seconds after the one-room simultaneous batch
SPREAD_OVER = 60  # seconds
TARGET_P99_MS = 1000
TITLE = re.compile(r"« ([ABC]\d+) »")
ANNOUNCED = re.compile(r"[ABC]\d+")  # the title ending the first line of an announcement
REFUSED = re.compile(re.escape(FLOOD) + r"\D*(\d+)")  # the flood reply: how many were refused


@dataclass
class Planned:
    title: str
    batch: str
    room_id: str
    due: dt.datetime


def is_reminder(bot_id: str):
    def match(event: dict) -> bool:
        content = event.get("content") or {}
        return (
            event.get("sender") == bot_id
            and event.get("type") == "m.room.message"
            and content.get("msgtype") == "m.text"
        )

    return match


def announcements(events: list[dict], bot_id: str) -> dict[str, dict]:
    """Deadline title → the bot's first announcement of it (« ⏳ Échéance D7 : A7 »), its
    answer to the command (a notice, not a rich reply)."""
    found: dict[str, dict] = {}
    for event in events:
        content = event.get("content") or {}
        if (
            event.get("sender") == bot_id
            and content.get("msgtype") == "m.notice"
            and pacing_notice(event) is None
        ):
            first_line = str(content.get("body", "")).split("\n", 1)[0]
            title = first_line.rsplit(" ", 1)[-1]
            if ANNOUNCED.fullmatch(title):
                found.setdefault(title, event)
    return found


def titles_in(event: dict) -> list[str]:
    return TITLE.findall(str((event.get("content") or {}).get("body", "")))


async def wait_announced(
    person: Person, room_id: str, bot_id: str, titles: set[str], quiet: float
) -> int:
    """Wait until every deadline was announced (or nothing new for ``quiet`` s); return how
    many were."""

    def from_bot(event: dict) -> bool:
        return event.get("sender") == bot_id

    while True:
        events = person.events(room_id)
        answered = titles & announcements(events, bot_id).keys()
        if answered == titles:
            return len(answered)
        try:
            await person.wait_for(room_id, from_bot, quiet, after=events[-1]["event_id"])
        except WaitTimeout:
            return len(answered)


async def wait_titles(person: Person, room_id: str, bot_id: str, titles: set[str], quiet: float):
    """Wait until every title was reminded in the room (or nothing new for ``quiet`` s)."""
    reminder = is_reminder(bot_id)
    while True:
        events = person.events(room_id)
        seen = {t for e in events if reminder(e) for t in titles_in(e)}
        if titles <= seen:
            return
        try:
            await person.wait_for(room_id, reminder, quiet, after=events[-1]["event_id"])
        except WaitTimeout:
            return


def read_bot_database(bot: BotProcess) -> dict[str, dt.datetime]:
    """Deadline title → due time of its reminder, as the bot stored it."""
    uri = f"file:{bot.database_path}?mode=ro"
    with sqlite3.connect(uri, uri=True) as connection:
        tasks = connection.execute(
            "SELECT due_at, payload FROM scheduled_task WHERE key LIKE 'reminder:%'"
        ).fetchall()
    result = {}
    for due_text, payload in tasks:
        due = dt.datetime.fromisoformat(str(due_text))
        if due.tzinfo is None:
            due = due.replace(tzinfo=dt.UTC)
        result[str(json.loads(payload).get("title"))] = due
    return result


async def main() -> None:
    started = time.monotonic()
    async with workspace("reminders") as (folder, server):
        organiser_account = await register(server, "organiser")
        bot = BotProcess(server, await register(server, "concerto"), folder / "concerto")
        bot.start(profile=PROFILE)
        organiser = await Person.start(server.url, organiser_account)
        try:
            same_room = await room_with(organiser, bot.user_id, "rappels, même instant")
            spread_room = await room_with(organiser, bot.user_id, "rappels, sur une minute")
            other_rooms = [
                await room_with(organiser, bot.user_id, f"rappels {n}")
                for n in range(ROOMS_OF_SPREAD_BATCH)
            ]
            now = dt.datetime.now(dt.UTC)
            same = dt.datetime.fromtimestamp(math.ceil(now.timestamp()) + FIRST_DUE_AFTER, dt.UTC)
            spread_start = same + dt.timedelta(seconds=SPREAD_START_AFTER)
            others_due = same + dt.timedelta(seconds=OTHER_ROOMS_AFTER)
            planned = [
                *(
                    Planned(f"A{i}", "same instant, one room", same_room, same)
                    for i in range(PER_BATCH)
                ),
                *(
                    Planned(
                        f"C{i}",
                        f"same instant, {ROOMS_OF_SPREAD_BATCH} rooms",
                        other_rooms[i % ROOMS_OF_SPREAD_BATCH],
                        others_due,
                    )
                    for i in range(PER_BATCH)
                ),
                *(
                    Planned(
                        f"B{i}",
                        "spread over a minute, one room",
                        spread_room,
                        spread_start + dt.timedelta(seconds=int(i * SPREAD_OVER / PER_BATCH)),
                    )
                    for i in range(PER_BATCH)
                ),
            ]
            rooms = [same_room, spread_room, *other_rooms]
            busiest = max(sum(plan.room_id == room_id for plan in planned) for room_id in rooms)
            if busiest > ORGANISER_FLOOD:
                raise SystemExit(f"{busiest} commands in one room: over the flood limit")
            gate = asyncio.Semaphore(IN_FLIGHT)
            commands: dict[str, Planned] = {}  # command event ID → its deadline

            async def announce(plan: Planned) -> None:
                deadline = (plan.due + OFFSET).astimezone(ROOM_TZ).strftime("%H:%M:%S")
                async with gate:
                    event_id = await organiser.send_text(
                        plan.room_id, f"!échéance {plan.title} ; {deadline} ; rappels: 1min"
                    )
                commands[event_id] = plan

            sending_started = time.monotonic()
            await asyncio.gather(*(announce(plan) for plan in planned))
            announced = 0
            for room_id in rooms:
                titles = {plan.title for plan in planned if plan.room_id == room_id}
                announced += await wait_announced(organiser, room_id, bot.user_id, titles, 30)
            announce_seconds = time.monotonic() - sending_started
            print(f"{announced} deadlines announced in {announce_seconds:.1f} s", flush=True)
            if dt.datetime.now(dt.UTC) > same - dt.timedelta(seconds=2):
                raise SystemExit("announcing took too long: raise FIRST_DUE_AFTER")
            cpu = bot.cpu_seconds()
            quiet = SPREAD_START_AFTER + SPREAD_OVER + 60
            for room_id in rooms:
                titles = {plan.title for plan in planned if plan.room_id == room_id}
                await wait_titles(organiser, room_id, bot.user_id, titles, quiet)
            fire_cpu = bot.cpu_seconds() - cpu
            rss = bot.rss_mib()
            # Every event of the run: a flood reply would have come FLOOD_QUIET (10 s) after the
            # last refused command, long before the reminders fired.
            events = [event for room_id in rooms for event in organiser.events(room_id)]
            messages = [event for event in events if is_reminder(bot.user_id)(event)]
            stored = read_bot_database(bot)
        finally:
            await organiser.close()
            await bot.stop()

    # Pacing: commands answered, and the bot's notices that it is catching up / refused a flood.
    answered = announcements(events, bot.user_id)
    command_ts = {event["event_id"]: event["origin_server_ts"] for event in events}
    answer_ms = [
        answered[plan.title]["origin_server_ts"] - command_ts[event_id]
        for event_id, plan in commands.items()
        if plan.title in answered and event_id in command_ts
    ]
    notices = [
        (kind, event)
        for event in events
        if event.get("sender") == bot.user_id and (kind := pacing_notice(event))
    ]
    catching_up = sum(kind == "catching up" for kind, _ in notices)
    floods = [event for kind, event in notices if kind == "flood"]
    refused = sum(
        int(match.group(1))
        for event in floods
        if (match := REFUSED.search(str(event["content"].get("body", ""))))
    )
    not_answered = sum(plan.title not in answered for plan in commands.values())
    unpaced = not catching_up and not floods and not not_answered
    print(
        f"pacing: {len(commands) - not_answered}/{len(commands)} commands answered, "
        f"{refused} refused in {len(floods)} flood replies, {catching_up} catching-up notices",
        flush=True,
    )

    sent_at: dict[str, list[int]] = {}
    for event in messages:
        for title in titles_in(event):
            sent_at.setdefault(title, []).append(event["origin_server_ts"])
    duplicates = sum(len(times) - 1 for times in sent_at.values())
    mismatched = sum(stored.get(plan.title) != plan.due for plan in planned)
    batches = list(dict.fromkeys(plan.batch for plan in planned))
    lateness: dict[str, list[float]] = {batch: [] for batch in batches}
    for plan in planned:
        if plan.title in sent_at:
            lateness[plan.batch].append(min(sent_at[plan.title]) - plan.due.timestamp() * 1000)
    batch_of = {plan.title: plan.batch for plan in planned}
    rows = []
    for batch in batches:
        values = lateness[batch]
        s = summary(values) if values else None
        carrying = [e for e in messages if any(batch_of.get(t) == batch for t in titles_in(e))]
        rows.append(
            (
                batch,
                f"{len(values)}/{PER_BATCH}",
                len(carrying),
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
        table(
            ["reminders due", "sent", "messages", "min ms", "median ms", "p99 ms", "max ms"], rows
        )
        + f"\n\n{len(sent_at)} of {len(planned)} reminders found in the bot's messages "
        f"(appearing more than once: {duplicates}); due times in the bot's database that differ "
        f"from the planned ones: {mismatched}. Never early: {'yes' if never_early else 'NO'}. "
        f"p99 < {TARGET_P99_MS} ms: {'met' if p99_all < TARGET_P99_MS else 'NOT met'}. "
        f"Announcing the {len(planned)} deadlines took {announce_seconds:.1f} s "
        f"({len(commands) - not_answered}/{len(commands)} commands answered, the slowest "
        f"{max(answer_ms, default=0):.0f} ms after it was sent); refused as a flood: {refused} "
        f"({len(floods)} replies naming them); notices that the bot is catching up (a command "
        f"waiting its turn): {catching_up}; none refused or waiting: "
        f"{'yes' if unpaced else 'NO'}. Bot CPU while the reminders fired: {fire_cpu:.1f} s; "
        f"RSS {rss:.0f} MiB."
    )
    notes = [
        f"Concerto on the shipped defaults: the organiser (each room's creator) is not paced, "
        f"but more than {ORGANISER_FLOOD} commands from them in one minute in one room is a "
        f"flood, refused. Each batch is announced in its own room (the 10-room batch in its "
        f"10), so at most {busiest} commands per room, {IN_FLIGHT} sends in flight.",
        "Lateness = `origin_server_ts` of the message listing the reminder − due time "
        "(deadline − 1 min); it includes the homeserver accepting the event.",
        "Reminders due at the same instant in one room are one message (20 reminders at most "
        "each); in different rooms they are separate messages sent concurrently.",
        "2 cores shared by Synapse, the bot and the client; other engineers were running test "
        "suites on the same machine at the time.",
    ]
    append_report("Reminders: lateness", body, started=started, notes=notes)
    if PROFILE:
        print(bot.profile)


if __name__ == "__main__":
    asyncio.run(main())
