"""The sync lets the app finish its pending sends between the first answer and its handling."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sync_answers import batch

from bot.matrix.sync import SYNC_TOKEN, SyncLoop
from storage.state import StateRepository

VOTE = {"type": "org.matrix.msc3381.poll.response", "event_id": "$vote", "content": {}}


class Homeserver:
    """Two sync answers, then the loop is stopped; what happened is written to ``steps``."""

    user_id = "@concerto:test"

    def __init__(self, steps: list[str]) -> None:
        self.steps = steps
        self.answers = [batch("t2", [VOTE]), batch("t3", [VOTE])]
        self.loop: SyncLoop | None = None

    async def upload_filter(self, _filter: dict[str, Any]) -> str:
        return "filter"

    async def sync(self, **_options: Any) -> SimpleNamespace:
        if not self.answers:
            assert self.loop is not None
            self.loop.stop()
            return batch("t4", [])
        self.steps.append("sync answered")
        return self.answers.pop(0)

    async def after_sync(self) -> None:
        pass


class Intake:
    def __init__(self, steps: list[str]) -> None:
        self.steps = steps

    async def handle_room_events(self, _room_id: str, events: list[dict[str, Any]]) -> None:
        self.steps.append(f"handled {len(events)} event")


async def test_pending_sends_finish_after_the_first_answer_and_before_its_votes(
    sqlite_database, clock
):
    with sqlite_database.session() as session:
        StateRepository(session).set(SYNC_TOKEN, "t1")  # a restart, not the first start
    steps: list[str] = []

    async def finish_sending() -> None:
        steps.append("pending sends finished")

    homeserver = Homeserver(steps)
    loop = SyncLoop(
        gateway=homeserver,  # type: ignore[arg-type]
        database=sqlite_database,
        intake=Intake(steps),  # type: ignore[arg-type]
        membership=None,  # type: ignore[arg-type]
        clock=clock,
        before_first_batch=finish_sending,
    )
    homeserver.loop = loop
    await loop.run()

    assert steps == [
        "sync answered",  # the client knows the rooms now: it can send
        "pending sends finished",  # so the poll start is recorded before the vote is read
        "handled 1 event",
        "sync answered",  # once only
        "handled 1 event",
    ]
