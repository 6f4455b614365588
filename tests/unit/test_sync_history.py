"""Which events of a batch the bot handles after joining a room."""

from __future__ import annotations

from types import SimpleNamespace

from bot.matrix.sync import SyncLoop

BOT = "@concerto:test"


def member(membership: str, previous: str | None = None) -> dict:
    event = {"type": "m.room.member", "state_key": BOT, "content": {"membership": membership}}
    if previous:
        event["unsigned"] = {"prev_content": {"membership": previous}}
    return event


def message(body: str) -> dict:
    return {"type": "m.room.message", "content": {"body": body}}


def loop(database, clock) -> SyncLoop:
    gateway = SimpleNamespace(user_id=BOT)
    return SyncLoop(gateway=gateway, database=database, intake=None, membership=None, clock=clock)  # type: ignore[arg-type]


def test_history_before_the_bots_join_is_dropped(sqlite_database, clock):
    events = [message("old !aide"), member("join", "invite"), message("new")]
    assert loop(sqlite_database, clock)._after_own_join("!r:test", events) == [message("new")]


def test_a_profile_change_of_the_bot_is_not_a_join(sqlite_database, clock):
    events = [message("a"), member("join", "join"), message("b")]
    assert loop(sqlite_database, clock)._after_own_join("!r:test", events) == events


def test_without_the_join_in_the_batch_everything_is_handled(sqlite_database, clock):
    events = [message("during downtime #proposition")]
    assert loop(sqlite_database, clock)._after_own_join("!r:test", events) == events
