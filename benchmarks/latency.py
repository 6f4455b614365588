"""Command → reply latency, seen by the sender, against the homeserver floor and an echo bot.

In one run, interleaved so that load and noise hit all three alike, 200 times each:

- floor: a message sent in a room without a bot, until the sender sees it in its own sync;
- echo bot: ``!ping`` → the reply of ``benchmarks/echo_bot.py`` (plain matrix-nio);
- Concerto: ``!aide aide`` (a short help reply) → Concerto's reply;
- echo bot sending Concerto's reply: the same echo bot answering with exactly the content
  Concerto sends (~530 bytes with the HTML instead of "pong"), which separates the bot's own
  cost from the homeserver's cost of a larger message.

Also reported from the server's timestamps: command ``origin_server_ts`` → reply
``origin_server_ts`` (the bot's share, including the sync that brought the command).

Concerto runs the shipped defaults, pacing included. A round starts at most once per pace
interval (one a second), so that the person's commands to Concerto stay within the shipped pace
and none waits its turn: what is measured is the bot's answer, not the pace. (Back to back, the
same person would send some 7 commands a second; as the room's creator, an organiser, the bot
would refuse those past 160 in a minute as a flood, and as a member would answer one a second.)

Run: ``python benchmarks/latency.py [rounds]``.
"""

from __future__ import annotations

import asyncio
import sys
import time

from common import (
    PACE,
    PACE_INTERVAL,
    PROFILE,
    BotProcess,
    EchoBotProcess,
    Person,
    append_report,
    register,
    reply_to,
    room_with,
    same_reply_echo_bot,
    summary,
    table,
    workspace,
)

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
WARM_UP = 10
TARGET_RATIO = 1.2
ROUND_PERIOD = PACE_INTERVAL  # seconds: one command to Concerto at the shipped pace


async def round_trip(
    person: Person, room_id: str, body: str, bot_id: str | None
) -> tuple[float, float]:
    """Seconds until the sender sees the reply (or its own echo), and the server-side delay."""
    started = time.perf_counter()
    event_id = await person.send_text(room_id, body)
    if bot_id is None:
        seen = await person.wait_for(room_id, lambda e: e.get("event_id") == event_id, 30)
        sent = seen
    else:
        seen = await person.wait_for(room_id, reply_to(bot_id, event_id), 30)
        sent = await person.wait_for(room_id, lambda e: e.get("event_id") == event_id, 30)
    elapsed = time.perf_counter() - started
    server = (seen["origin_server_ts"] - sent["origin_server_ts"]) / 1000
    return elapsed, server


async def main() -> None:
    started = time.monotonic()
    async with workspace("latency") as (folder, server):
        alice_account = await register(server, "alice")
        concerto = BotProcess(server, await register(server, "concerto"), folder / "concerto")
        echo = EchoBotProcess(server, await register(server, "echo"), folder / "echo")
        concerto.start(profile=PROFILE)
        echo.start()
        alice = await Person.start(server.url, alice_account)
        sized: EchoBotProcess | None = None
        try:
            floor_room = await alice.create_room("floor")
            echo_room = await room_with(alice, echo.user_id, "echo")
            concerto_room = await room_with(alice, concerto.user_id, "concerto")
            sized, sized_room = await same_reply_echo_bot(
                server, folder, alice, concerto_room, concerto.user_id, "!aide aide"
            )
            cases = {
                "floor": (floor_room, "floor", None),
                "echo": (echo_room, "!ping", echo.user_id),
                "concerto": (concerto_room, "!aide aide", concerto.user_id),
                "sized": (sized_room, "!ping", sized.user_id),
            }
            for _ in range(WARM_UP):
                round_started = time.monotonic()
                for room_id, body, bot_id in cases.values():
                    await round_trip(alice, room_id, body, bot_id)
                await asyncio.sleep(ROUND_PERIOD - (time.monotonic() - round_started))
            seen: dict[str, list[float]] = {name: [] for name in cases}
            server_side: dict[str, list[float]] = {name: [] for name in cases}
            names = list(cases)
            cpu_before = concerto.cpu_seconds()
            for index in range(ROUNDS):
                round_started = time.monotonic()
                turn = index % len(names)
                order = names[turn:] + names[:turn]  # rotate who goes first
                for name in order:
                    room_id, body, bot_id = cases[name]
                    elapsed, delay = await round_trip(alice, room_id, body, bot_id)
                    seen[name].append(elapsed * 1000)
                    server_side[name].append(delay * 1000)
                await asyncio.sleep(ROUND_PERIOD - (time.monotonic() - round_started))
            cpu_per_command = (concerto.cpu_seconds() - cpu_before) / ROUNDS * 1000
            rss = concerto.rss_mib()
            echo_rss = echo.rss_mib()
        finally:
            await alice.close()
            await concerto.stop()
            await echo.stop()
            if sized is not None:
                await sized.stop()

    stats = {name: summary(values) for name, values in seen.items()}
    server_stats = {name: summary(values) for name, values in server_side.items()}
    labels = {
        "floor": "homeserver floor (send → own sync echo)",
        "echo": "echo bot (nio, `!ping`)",
        "concerto": "Concerto (`!aide aide`)",
        "sized": "echo bot sending Concerto's reply",
    }
    sent = WARM_UP + ROUNDS
    per_person = {"floor": "—", "echo": sent, "concerto": sent + 1, "sized": sent}  # +1: sizing
    paced = {name: "—" for name in ("floor", "echo", "sized")}
    paced["concerto"] = f"no (≥ {ROUND_PERIOD:g} s apart)"
    rows = []
    for name in cases:
        s, k = stats[name], server_stats[name]
        bot_share = f"{k['median']:.1f} / {k['p95']:.1f}" if name != "floor" else "—"
        rows.append(
            (
                labels[name],
                s["n"],
                per_person[name],
                paced[name],
                f"{s['median']:.1f}",
                f"{s['p95']:.1f}",
                f"{s['max']:.1f}",
                bot_share,
                f"{s['median'] / stats['floor']['median']:.2f}×",
            )
        )
    ratio = stats["concerto"]["median"] / stats["echo"]["median"]
    ratio_p95 = stats["concerto"]["p95"] / stats["echo"]["p95"]
    same_reply = stats["concerto"]["median"] / stats["sized"]["median"]
    body = (
        table(
            [
                "round trip",
                "n",
                "commands per person",
                "paced",
                "median ms",
                "p95 ms",
                "max ms",
                "command ts → reply ts, median / p95 ms",
                "vs floor",
            ],
            rows,
        )
        + f"\n\nConcerto / echo bot: median **{ratio:.2f}×**, p95 {ratio_p95:.2f}× "
        f"(target median ≤ {TARGET_RATIO}×: {'met' if ratio <= TARGET_RATIO else 'NOT met'}); "
        f"against the echo bot sending Concerto's reply: median {same_reply:.2f}×. "
        f"Concerto CPU per command: {cpu_per_command:.1f} ms; RSS at the end: {rss:.0f} MiB "
        f"(echo bot {echo_rss:.0f} MiB)."
    )
    notes = [
        "The four cases are interleaved (rotating order) in one run, one request at a time, "
        f"a round starting every {ROUND_PERIOD:g} s at most: the person's commands to Concerto "
        f"stay within the shipped pace ({PACE}) and none waits its turn.",
        "2 cores shared by Synapse, both bots and the client; other engineers were running "
        "test suites on the same machine at the time, so absolute values are noisy.",
    ]
    if PROFILE:
        notes.append("Bot run under the py-spy sampler (adds a little overhead).")
    append_report("Latency: command → reply", body, started=started, notes=notes)
    if PROFILE:
        print(concerto.profile)


if __name__ == "__main__":
    asyncio.run(main())
