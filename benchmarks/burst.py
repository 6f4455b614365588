"""A burst: 300 commands from 3 people as fast as they can send, Concerto against the echo bot.

Each person keeps 8 sends in flight. Measured: replies received (each command must be
answered exactly once), time from the first send to the last reply seen by an observer, and
replies per second. The target compares Concerto with the minimal echo bot, which answers
"pong". A second echo bot answers with exactly the content Concerto sends (its help reply,
~530 bytes with the HTML): comparing with it separates the bot's own cost from the homeserver's
cost of a larger message. Rounds go echo, Concerto, same-reply echo, then back (ABCCBA), twice;
each share compares the mean rates of the bots' four rounds.

Concerto runs the shipped defaults, pacing included: per person and room, 60 commands at once,
then one a second; the room's creator is an organiser, not paced. With more than 60 commands per
person, the two members' further commands wait their turn and Concerto's time includes that
wait (the echo bots have no pace). Each Concerto round starts once every person's pace is whole
again (a minute after the previous round's last reply), so that the rounds measure the same
burst. The bot's notice that it is catching up (a reply to a command, not its answer) is counted
apart.

Run: ``python benchmarks/burst.py [commands per person]``.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time

from common import (
    PACE,
    PACE_WINDOW,
    PROFILE,
    SHIPPED,
    BotProcess,
    EchoBotProcess,
    Person,
    append_report,
    pacing_notice,
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

    def is_answer(event: dict) -> bool:
        return is_reply(event) and pacing_notice(event) is None

    def reply_counts() -> collections.Counter[str]:
        counts: collections.Counter[str] = collections.Counter()
        for event in observer.events(room_id)[baseline:]:
            if is_answer(event):
                counts[str(replies_to(event))] += 1
        return counts

    async def send_all(person: Person) -> None:
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(index: int) -> None:
            async with gate:
                sent.add(await person.send_text(room_id, f"{body} {index}"))

        await asyncio.gather(*(one(index) for index in range(PER_PERSON)))

    sent_done = 0.0

    async def send_everything() -> None:
        nonlocal sent_done
        await asyncio.gather(*(send_all(person) for person in people))
        sent_done = time.perf_counter()

    started = time.perf_counter()
    sending = asyncio.ensure_future(send_everything())
    last_reply = started
    replies = reply_counts()
    while len(replies) < total:
        try:
            found = await observer.wait_for(room_id, is_answer, QUIET_TIMEOUT, after=last_id)
        except WaitTimeout:
            break
        last_reply = time.perf_counter()
        last_id = found["event_id"]
        replies = reply_counts()
    await sending
    answered = sum(1 for event_id in sent if replies[event_id] >= 1)
    duplicates = sum(n - 1 for n in replies.values() if n > 1)
    notices = collections.Counter(
        pacing_notice(event) for event in observer.events(room_id)[baseline:] if is_reply(event)
    )
    elapsed = last_reply - started
    return {
        "sent": len(sent),
        "answered": answered,
        "duplicates": duplicates,
        "catching_up": notices["catching up"],
        "floods": notices["flood"],
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
            rested_at = 0.0
            for name, room_id, body, bot_id in plan:
                if name == "Concerto":  # every person's pace whole again
                    await asyncio.sleep(max(0.0, rested_at - time.monotonic()))
                cpu = concerto.cpu_seconds()
                result = await burst(people, room_id, body, bot_id)
                result["bot_cpu"] = concerto.cpu_seconds() - cpu
                if name == "Concerto":
                    rested_at = time.monotonic() + PACE_WINDOW
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
    # The room's creator is an organiser, not paced; the two members are.
    waited = SHIPPED.commands_per_minute < PER_PERSON
    paced = "yes (the 2 members)" if waited else "no (within the pace)"
    rows = [
        (
            name,
            PER_PERSON,
            paced if name == "Concerto" else "—",
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
    catching_up = sum(r["catching_up"] for n, r in results if n == "Concerto")
    floods = sum(r["floods"] for n, r in results if n == "Concerto")
    target = "met" if share >= TARGET_SHARE else "NOT met"
    if waited:
        target += " — Concerto's time includes the members' commands waiting their turn"
    body = (
        table(
            [
                "bot",
                "commands per person",
                "paced",
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
        f"{TARGET_SHARE:.0%}: {target}); "
        f"{same_reply_share:.0%} of the echo bot sending Concerto's reply ({rate[SIZED]:.1f}/s); "
        f"every command answered exactly once: {'yes' if all_answered else 'NO'}. "
        f"Notices that the bot is catching up: {catching_up} (a person is told once in ten "
        f"minutes; not counted as answers); replies naming commands refused in a flood: "
        f"{floods}. Concerto RSS at the end: {rss:.0f} MiB."
    )
    notes = [
        f"3 people × {PER_PERSON} commands, {IN_FLIGHT} sends in flight each; Concerto "
        'answers `!aide aide <n>`, the echo bots `!ping <n>` (one with "pong", one with '
        "Concerto's reply).",
        f"Concerto on the shipped defaults: per person and room, {PACE}, the others waiting "
        "their turn; the room's creator (an organiser) is not paced. Each Concerto round starts "
        f"{PACE_WINDOW:.0f} s after the previous one's last reply, when every person's pace is "
        "whole again.",
        "2 cores shared by Synapse (which saturates one core), both bots and the 3 clients; "
        "other engineers were running test suites on the same machine at the time.",
    ]
    append_report(f"Burst: {total} commands", body, started=started, notes=notes)
    if PROFILE:
        print(concerto.profile)


if __name__ == "__main__":
    asyncio.run(main())
