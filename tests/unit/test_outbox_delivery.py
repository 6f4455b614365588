"""The outbox: once per key, same transaction ID on every retry, order kept, waits when told."""

from __future__ import annotations

from datetime import timedelta

from harness import RecordingSender

from bot.matrix.errors import SendError
from bot.runtime.outbox import Outbox
from storage.outbox import OutboxRepository


def queue(outbox: Outbox, database, key: str, body: str, room: str = "!r:test") -> bool:
    with database.session() as session:
        return outbox.enqueue(session, key=key, room_id=room, content={"body": body})


async def test_same_key_is_queued_and_sent_once(database, clock):
    sender = RecordingSender()
    outbox = Outbox(database, sender, clock)
    assert queue(outbox, database, "reminder:E1:1d", "a") is True
    assert queue(outbox, database, "reminder:E1:1d", "a") is False
    await outbox.send_due()
    await outbox.send_due()
    assert [s["content"]["body"] for s in sender.sent] == ["a"]


async def test_retry_reuses_the_transaction_id_and_keeps_a_groups_order(database, clock):
    sender = RecordingSender(failures=[SendError("down", permanent=False)])
    outbox = Outbox(database, sender, clock)
    queue(outbox, database, "digest:!r:W25:part1", "first")
    queue(outbox, database, "digest:!r:W25:part2", "second")
    await outbox.send_due()
    assert sender.sent == []  # the second part waits behind the first
    clock.advance(timedelta(seconds=5))
    await outbox.send_due()
    assert [s["content"]["body"] for s in sender.sent] == ["first", "second"]
    assert sender.txn_ids[0] == sender.txn_ids[1]


async def test_a_failing_message_does_not_hold_back_other_groups(database, clock):
    sender = RecordingSender(failures=[SendError("down", permanent=False)])
    outbox = Outbox(database, sender, clock)
    queue(outbox, database, "reply:$a:1", "to a")
    queue(outbox, database, "reply:$b:1", "to b")
    await outbox.send_due()
    assert [s["content"]["body"] for s in sender.sent] == ["to b"]


async def test_rate_limit_pauses_every_send_of_the_account(database, clock):
    sender = RecordingSender(failures=[SendError("slow", permanent=False, retry_after=30)])
    outbox = Outbox(database, sender, clock)
    queue(outbox, database, "reply:$a:1", "a", room="!one:test")
    await outbox.send_due()
    queue(outbox, database, "reply:$b:1", "b", room="!two:test")
    await outbox.send_due()
    assert sender.sent == []
    clock.advance(timedelta(seconds=31))
    await outbox.send_due()
    assert sorted(s["content"]["body"] for s in sender.sent) == ["a", "b"]


async def test_rate_limit_waits_as_long_as_the_server_asks(database, clock):
    sender = RecordingSender(failures=[SendError("slow", permanent=False, retry_after=30)])
    outbox = Outbox(database, sender, clock)
    queue(outbox, database, "k", "x")
    await outbox.send_due()
    clock.advance(timedelta(seconds=29))
    await outbox.send_due()
    assert sender.sent == []
    clock.advance(timedelta(seconds=2))
    await outbox.send_due()
    assert len(sender.sent) == 1


async def test_permanent_error_gives_up_without_blocking_others(database, clock):
    sender = RecordingSender(failures=[SendError("M_FORBIDDEN", permanent=True)])
    outbox = Outbox(database, sender, clock)
    queue(outbox, database, "k1", "refused")
    queue(outbox, database, "k2", "next")
    await outbox.send_due()
    await outbox.send_due()
    assert [s["content"]["body"] for s in sender.sent] == ["next"]
    with database.session() as session:
        assert OutboxRepository(session).get_by_key("k1").status == "failed"


async def test_sent_hook_sees_the_event_id_in_the_recording_transaction(database, clock):
    sender = RecordingSender()
    outbox = Outbox(database, sender, clock)
    seen: list[tuple[str, str]] = []
    outbox.on_sent(
        "announce:", lambda session, message: seen.append((message.key, message.event_id))
    )
    queue(outbox, database, "announce:E1", "x")
    queue(outbox, database, "reply:$a:1", "y")
    await outbox.send_due()
    assert seen == [("announce:E1", "$sent1")]


async def test_message_sent_by_a_crashed_run_long_ago_is_found_not_resent(database, clock):
    sender = RecordingSender()
    outbox = Outbox(database, sender, clock)
    queue(outbox, database, "digest:!r:2026-W25", "the digest")
    with database.session() as session:
        row = OutboxRepository(session).get_by_key("digest:!r:2026-W25")
        txn_id = row.txn_id
    # An earlier run sent it, then died before recording it; the bot is back an hour later.
    await sender.send("!r:test", "m.room.message", {"body": "the digest"}, txn_id)
    clock.advance(timedelta(hours=1))
    await outbox.send_due()
    assert len(sender.sent) == 1
    with database.session() as session:
        assert OutboxRepository(session).get_by_key("digest:!r:2026-W25").status == "sent"
