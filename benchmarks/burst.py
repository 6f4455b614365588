"""A burst: 300 commands from 3 people as fast as they can send, Concerto against the echo bot.

Each person keeps 8 sends in flight. Measured: replies received (each command must be
answered exactly once), time from the first send to the last reply seen by an observer, and
replies per second. The target compares Concerto with the minimal echo bot, which answers
"pong". A second echo bot answers with exactly the content Concerto sends (its help reply,
~530 bytes with the HTML): comparing with it separates the bot's own cost from the homeserver's
cost of a larger message. Rounds go echo, Concerto, same-reply echo, then back (ABCCBA), twice;
each share compares the mean rates of the bots' four rounds.

Run: ``python benchmarks/burst.py [commands per person]``.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time

from common import (
    PROFILE,
    BotProcess,
    EchoBotProcess,
    Person,
    append_report,
    register,
    replies_to,
    room_with,
    same_reply_echo_bot,
    table,
    workspace,
)
from matrix_people import WaitTimeout

PER_PERSON = int(sys.argv[1]) if len(sys.argv) > 1 else 100
IN_FLIGHT = 8
QUIET_TIMEOUT = 60.0  # give up when no new reply arrived for this long
TARGET_SHARE = 0.9
SIZED = "echo bot, Concerto's reply"
ROUND_PAIRS = 2  # rounds per bot: 2 × ROUND_PAIRS


async def burst(people: list[Person], room_id: str, body: str, bot_id: str) -> dict[str, float]:
    observer = people[0]
    sent: set[str] = set()
    total = PER_PERSON * len(people)
    baseline = len(observer.events(room_id))
    last_id = observer.events(room_id)[-1]["event_id"]

    def is_reply(event: dict) -> bool:
        return event.get("sender") == bot_id and replies_to(event) is not None

    def reply_counts() -> collections.Counter[str]:
        counts: collections.Counter[str] = collections.Counter()
        for event in observer.events(room_id)[baseline:]:
            if is_reply(event):
                counts[str(replies_to(event))] += 1
        return counts

    async def send_all(person: Person) -> None:
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(index: int) -> None:
            async with gate:
                sent.add(await person.send_text(room_id, f"{body} {index}"))

        await asyncio.gather(*(one(index) for index in range(PER_PERSON)))

    started = time.perf_counter()
    sending = asyncio.ensure_future(asyncio.gather(*(send_all(person) for person in people)))
    last_reply = started
    replies = reply_counts()
    while len(replies) < total:
        try:
            found = await observer.wait_for(room_id, is_reply, QUIET_TIMEOUT, after=last_id)
        except WaitTimeout:
            break
        last_reply = time.perf_counter()
        last_id = found["event_id"]
        replies = reply_counts()
    await sending
    sent_done = time.perf_counter()
    answered = sum(1 for event_id in sent if replies[event_id] >= 1)
    duplicates = sum(n - 1 for n in replies.values() if n > 1)
    elapsed = last_reply - started
    return {
        "sent": len(sent),
        "answered": answered,
        "duplicates": duplicates,
        "send_seconds": sent_done - started,
        "seconds": elapsed,
        "rate": answered / elapsed if elapsed else 0.0,
    }


async def main() -> None:
    started = time.monotonic()
    async with workspace("burst") as (folder, server):
        accounts = [await register(server, f"p{index}") for index in range(3)]
        concerto = BotProcess(server, await register(server, "concerto"), folder / "concerto")
        echo = EchoBotProcess(server, await register(server, "echo"), folder / "echo")
        concerto.start(profile=PROFILE)
        echo.start()
        people = [await Person.start(server.url, account) for account in accounts]
        sized: EchoBotProcess | None = None
        results: list[tuple[str, dict[str, float]]] = []
        try:
            owner, *members = people
            echo_room = await room_with(owner, echo.user_id, "echo", *members)
            concerto_room = await room_with(owner, concerto.user_id, "concerto", *members)
            sized, sized_room = await same_reply_echo_bot(
                server, folder, owner, concerto_room, concerto.user_id, "!aide aide 0", *members
            )
            echo_round = ("echo bot", echo_room, "!ping", echo.user_id)
            concerto_round = ("Concerto", concerto_room, "!aide aide", concerto.user_id)
            sized_round = (SIZED, sized_room, "!ping", sized.user_id)
            # ABCCBA twice: a drift in the machine's load weighs on every bot alike.
            plan = [
                echo_round,
                concerto_round,
                sized_round,
                sized_round,
                concerto_round,
                echo_round,
            ] * ROUND_PAIRS
            for name, room_id, body, bot_id in plan:
                cpu = concerto.cpu_seconds()
                result = await burst(people, room_id, body, bot_id)
                result["bot_cpu"] = concerto.cpu_seconds() - cpu
                results.append((name, result))
                print(name, result, flush=True)
            rss = concerto.rss_mib()
        finally:
            for person in people:
                await person.close()
            await concerto.stop()
            await echo.stop()
            if sized is not None:
                await sized.stop()

    total = PER_PERSON * 3
    rows = [
        (
            name,
            f"{r['answered']:.0f}/{total}",
            f"{r['duplicates']:.0f}",
            f"{r['send_seconds']:.2f}",
            f"{r['seconds']:.2f}",
            f"{r['rate']:.1f}",
            f"{r['bot_cpu']:.1f}" if name == "Concerto" else "—",
        )
        for name, r in results
    ]
    rate = {
        name: sum(r["rate"] for n, r in results if n == name) / (2 * ROUND_PAIRS)
        for name in ("Concerto", "echo bot", SIZED)
    }
    share = rate["Concerto"] / rate["echo bot"]
    same_reply_share = rate["Concerto"] / rate[SIZED]
    all_answered = all(r["answered"] == total and r["duplicates"] == 0 for _, r in results)
    body = (
        table(
            [
                "bot",
                "answered",
                "duplicates",
                "all sent after s",
                "last reply after s",
                "replies/s",
                "Concerto CPU s",
            ],
            rows,
        )
        + f"\n\nMean replies/s: Concerto {rate['Concerto']:.1f}, echo bot "
        f"{rate['echo bot']:.1f} → **{share:.0%}** of the echo bot (target ≥ "
        f"{TARGET_SHARE:.0%}: {'met' if share >= TARGET_SHARE else 'NOT met'}); "
        f"{same_reply_share:.0%} of the echo bot sending Concerto's reply ({rate[SIZED]:.1f}/s); "
        f"every command answered exactly once: {'yes' if all_answered else 'NO'}. "
        f"Concerto RSS at the end: {rss:.0f} MiB."
    )
    notes = [
        f"3 people × {PER_PERSON} commands, {IN_FLIGHT} sends in flight each; Concerto "
        'answers `!aide aide <n>`, the echo bots `!ping <n>` (one with "pong", one with '
        "Concerto's reply).",
        "2 cores shared by Synapse (which saturates one core), both bots and the 3 clients; "
        "other engineers were running test suites on the same machine at the time.",
    ]
    append_report("Burst: 300 commands", body, started=started, notes=notes)
    if PROFILE:
        print(concerto.profile)


if __name__ == "__main__":
    asyncio.run(main())
