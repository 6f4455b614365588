"""The integration harness itself: a real Synapse, two people, and what they see of each other."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from matrix_people import (
    MARKER_EVENT_TYPE,
    MakePerson,
    Predicate,
    WaitTimeout,
    edit_of,
    of_type,
    reaction_to,
    redaction_of,
    text,
)

from bot.tools.local_homeserver import LocalHomeserver


def _membership(user_id: str, membership: str) -> Predicate:
    def match(event: dict[str, Any]) -> bool:
        content = event.get("content")
        return (
            event.get("type") == "m.room.member"
            and event.get("state_key") == user_id
            and isinstance(content, dict)
            and content.get("membership") == membership
        )

    return match


async def test_two_people_talk_react_edit_redact_and_survive_a_restart(
    homeserver: LocalHomeserver, make_person: MakePerson
) -> None:
    started = time.monotonic()
    alice = await make_person("alice")
    bob = await make_person("bob")

    room_id = await alice.create_room("harness", invite=[bob.user_id])
    assert await bob.wait_for_invite() == room_id
    await bob.join(room_id)
    await alice.wait_for(room_id, _membership(bob.user_id, "join"))

    hello = await alice.send_text(room_id, "hello bob")
    seen = await bob.wait_for(room_id, text("hello bob", sender=alice.user_id))
    assert seen["event_id"] == hello
    assert seen["content"]["msgtype"] == "m.text"

    reaction = await bob.react(room_id, hello, "👍")
    got = await alice.wait_for(room_id, reaction_to(hello, "👍", sender=bob.user_id))
    assert got["event_id"] == reaction

    edit = await alice.edit(room_id, hello, "hello bob, edited")
    got = await bob.wait_for(room_id, edit_of(hello, sender=alice.user_id))
    assert got["event_id"] == edit
    assert got["content"]["m.new_content"]["body"] == "hello bob, edited"

    redaction = await alice.redact(room_id, hello, reason="test")
    got = await bob.wait_for(room_id, redaction_of(hello))
    assert got["event_id"] == redaction

    root = await alice.send_text(room_id, "a topic")
    threaded = await bob.send_text(room_id, "in a thread", thread_root=root)
    got = await alice.wait_for(room_id, text("in a thread"), after=redaction)
    assert got["event_id"] == threaded
    assert got["content"]["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": root,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": root},
    }

    # Everything arrives in order, and both see the same timeline of the room.
    alice_ids = [e["event_id"] for e in alice.events(room_id)]
    assert alice_ids.index(hello) < alice_ids.index(reaction) < alice_ids.index(edit)
    assert alice_ids.index(edit) < alice_ids.index(redaction) < alice_ids.index(threaded)

    # Nothing else from bob after his threaded message; the marker proves the ordering.
    await alice.assert_no_event(
        room_id, of_type("m.room.message", sender=bob.user_id), after=threaded
    )
    markers = [e for e in alice.events(room_id) if e["type"] == MARKER_EVENT_TYPE]
    assert len(markers) == 1
    with pytest.raises(AssertionError, match="unexpected event"):
        await alice.assert_no_event(room_id, text(sender=bob.user_id), after=redaction)

    # A timeout names what was seen instead of hanging.
    with pytest.raises(WaitTimeout, match="no matching event"):
        await bob.wait_for(room_id, text("never sent"), timeout=0.3)

    # The homeserver goes down and comes back with the same data, port and logins.
    down = time.monotonic()
    await asyncio.to_thread(homeserver.stop)  # blocking calls: keep the event loop free
    assert not homeserver.is_running
    await asyncio.to_thread(homeserver.start)
    restart_seconds = time.monotonic() - down
    assert homeserver.is_running

    after_restart = await bob.send_text(room_id, "still here after the restart")
    got = await alice.wait_for(room_id, text("still here after the restart", sender=bob.user_id))
    assert got["event_id"] == after_restart
    reply = await alice.send_text(room_id, "welcome back", reply_to=after_restart)

    got = await bob.wait_for(room_id, text("welcome back"), after=after_restart)
    assert got["event_id"] == reply
    assert got["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": after_restart}}
    print(
        f"\nharness test body {time.monotonic() - started:.2f} s "
        f"(homeserver restart {restart_seconds:.2f} s)"
    )


async def test_sync_gaps_are_backfilled(make_person: MakePerson) -> None:
    """More than 100 events between two syncs come back ``limited``; nothing may be missed."""
    alice = await make_person("alice")
    bob = await make_person("bob")
    room_id = await alice.create_room("burst", invite=[bob.user_id])
    await bob.join(room_id)
    await bob.wait_for(room_id, of_type("m.room.create"))

    # Stop bob's sync loop so that a big gap builds up, then let it catch up.
    assert bob._task is not None
    bob._task.cancel()
    await asyncio.gather(bob._task, return_exceptions=True)
    gate = asyncio.Semaphore(16)

    async def send(n: int) -> str:
        async with gate:
            return await alice.send_text(room_id, f"burst {n}")

    sent = set(await asyncio.gather(*(send(n) for n in range(150))))
    marker = await alice.send_text(room_id, "end of burst")
    bob._task = asyncio.create_task(bob._sync_loop())

    await bob.wait_for(room_id, lambda e: e.get("event_id") == marker, timeout=30)
    received = [e["event_id"] for e in bob.events(room_id)]
    assert sent <= set(received)
    assert len(received) == len(set(received))
    assert received.index(marker) > max(received.index(event_id) for event_id in sent)
    assert bob.backfilled >= 50  # the sync came back limited (100 at most) and was filled
