"""Polls end to end inside the bot (real SQLite, frozen clock, no homeserver).

Covers the repository, the recomputed tally (native + reactions, changes of mind, removals,
redactions, late votes), the command, the sent hook, the closing timer and client polls.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import select

from bot.runtime.clock import FrozenClock, to_millis
from bot.runtime.config import BotConfig
from bot.runtime.context import Context, UserError
from bot.runtime.messages import MessageRenderer
from bot.runtime.outbox import Outbox
from bot.runtime.room_settings import resolve
from bot.runtime.timers import Timers
from bot.text.i18n import Translations
from handlers.polls import commands as polls_module
from handlers.polls.events import NUMBER_EMOJI
from handlers.polls.results import poll_tally
from storage.db import Database
from storage.models import OutboxMessage, ScheduledTask
from storage.poll_models import Poll, PollBallot
from storage.polls import PollRepository

ROOM = "!room:example.org"
AUTHOR = "@alice:example.org"
ORGANISER = "@orga:example.org"
START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.database = Database.from_url(f"sqlite:///{tmp_path / 'concerto.db'}")
        self.database.migrate()
        self.clock = FrozenClock(START)
        self.translations = Translations()
        self.renderer = MessageRenderer(self.translations)
        self.outbox = Outbox(self.database, sender=None, clock=self.clock)  # type: ignore[arg-type]
        self.timers = Timers(self.database, self.clock)
        services = SimpleNamespace(
            config=SimpleNamespace(bot=BotConfig()),
            database=self.database,
            clock=self.clock,
            outbox=self.outbox,
            timers=self.timers,
            renderer=self.renderer,
            translations=self.translations,
            gateway=self,
        )
        self.bot_may_redact = False
        self.feature = polls_module.feature(services)  # type: ignore[arg-type]
        for kind in self.feature.task_kinds:
            self.timers.register(kind)
        self.command = {c.name: c for c in self.feature.commands}
        self.counter = 0

    async def may_redact_others(self, room_id: str) -> bool:
        return self.bot_may_redact

    def event_id(self) -> str:
        self.counter += 1
        return f"$ev{self.counter}"

    async def run(self, sender: str, action: Any, *, ts: datetime | None = None) -> str:
        """Run ``action(ctx)`` in one transaction, like the intake does; returns the event id."""
        event_id = self.event_id()
        try:
            with self.database.session() as session:
                ctx = Context(
                    room=resolve(ROOM, None, BotConfig()),
                    sender=sender,
                    event_id=event_id,
                    origin_ts=ts or self.clock.now(),
                    session=session,
                    clock=self.clock,
                    translations=self.translations,
                    renderer=self.renderer,
                    outbox=self.outbox,
                    timers=self.timers,
                    power_level=lambda user: _level(user),
                    display_name=lambda user: user,
                )
                await action(ctx)
        except UserError as error:
            self.last_error = error
            raise
        return event_id

    async def command_(self, sender: str, name: str, args: str) -> str:
        async def action(ctx: Context) -> None:
            ctx.args = args
            await self.command[name].handler(ctx)

        return await self.run(sender, action)

    def sent(self, key_prefix: str, event_id: str) -> None:
        """Pretend the outbox sent the message whose key starts with ``key_prefix``."""
        with self.database.session() as session:
            rows = session.exec(select(OutboxMessage)).all()
            message = next(m for m in rows if m.key.startswith(key_prefix))
            message.event_id = event_id
            for prefix, hook in self.feature.sent_hooks:
                if message.key.startswith(prefix):
                    hook(session, message)

    async def response(
        self,
        sender: str,
        poll_event: str,
        answers: list[str],
        ts: datetime,
        *,
        stable: bool = False,
    ) -> str:
        event_id = self.event_id()
        if stable:
            content: dict[str, Any] = {"m.selections": answers}
            event_type = "m.poll.response"
        else:
            content = {"org.matrix.msc3381.poll.response": {"answers": answers}}
            event_type = "org.matrix.msc3381.poll.response"
        content["m.relates_to"] = {"rel_type": "m.reference", "event_id": poll_event}
        raw = {
            "type": event_type,
            "event_id": event_id,
            "sender": sender,
            "origin_server_ts": to_millis(ts),
            "content": content,
        }
        await self.run(sender, lambda ctx: self.feature.hooks.polls[0](ctx, raw), ts=ts)
        return event_id

    async def react(self, sender: str, target: str, index: int, ts: datetime) -> str:
        key = NUMBER_EMOJI[index]
        return await self.run(
            sender, lambda ctx: self.feature.hooks.reactions[0](ctx, target, key), ts=ts
        )

    async def redact(self, sender: str, target: str, ts: datetime) -> str:
        return await self.run(
            sender, lambda ctx: self.feature.hooks.redactions[0](ctx, target), ts=ts
        )

    def outbox_rows(self) -> list[OutboxMessage]:
        with self.database.session() as session:
            return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))

    def poll(self, poll_id: int = 1) -> Poll:
        with self.database.session() as session:
            poll = PollRepository(session).get(poll_id)
            assert poll is not None
            return poll

    def tally(self, poll_id: int = 1, end: datetime | None = None):
        with self.database.session() as session:
            poll = PollRepository(session).get(poll_id)
            assert poll is not None
            return poll_tally(session, poll, end)


async def _level(user_id: str) -> float:
    return 100 if user_id == ORGANISER else 0


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


async def test_polls_command_stores_poll_sends_start_notice_and_timer(harness):
    await harness.command_(AUTHOR, "sondage", "Quel jour ? ; mardi ; jeudi ; fin: dans 2 heures")
    rows = harness.outbox_rows()
    assert [row.key for row in rows] == ["poll:S1:start", "poll:S1:notice"]
    start = rows[0]
    assert start.event_type == "org.matrix.msc3381.poll.start"
    block = start.content["org.matrix.msc3381.poll.start"]
    assert block["max_selections"] == 1
    assert [a["org.matrix.msc1767.text"] for a in block["answers"]] == ["mardi", "jeudi"]
    assert "1. mardi" in start.content["org.matrix.msc1767.text"]
    notice = rows[1].content
    assert notice["msgtype"] == "m.notice"
    assert "Sondage S1 lancé : Quel jour ?" in notice["body"]
    assert "!clore S1" in notice["body"]
    assert "1️⃣ mardi" in notice["body"]
    with harness.database.session() as session:
        task = session.exec(select(ScheduledTask)).one()
    assert task.key == "poll_close:S1"
    assert task.due_at == START + timedelta(hours=2)
    poll = harness.poll()
    assert (poll.author, poll.status, poll.origin) == (AUTHOR, "open", "command")


async def test_polls_bad_input_stores_nothing(harness):
    with pytest.raises(UserError):
        await harness.command_(AUTHOR, "sondage", "Pizza ? ; oui")
    with harness.database.session() as session:
        assert session.exec(select(Poll)).all() == []
    assert harness.outbox_rows() == []


async def test_polls_votes_native_and_reactions_recomputed_on_close(harness):
    await harness.command_(AUTHOR, "sondage", "Quel jour ? ; mardi ; jeudi ; vendredi")
    harness.sent("poll:S1:start", "$start")
    harness.sent("poll:S1:notice", "$notice")
    poll = harness.poll()
    assert (poll.start_event_id, poll.notice_event_id) == ("$start", "$notice")

    # bob votes natively then changes his mind with a reaction on the notice
    await harness.response("@bob:x", "$start", ["a1"], at(1))
    await harness.react("@bob:x", "$notice", 2, at(2))
    # carol reacts on the poll, then removes her reaction: no vote left
    carol = await harness.react("@carol:x", "$start", 0, at(1))
    await harness.redact("@carol:x", carol, at(3))
    # dan votes with the stable type, then redacts a later change: the first vote stands
    await harness.response("@dan:x", "$start", ["a2"], at(1), stable=True)
    dan_change = await harness.response("@dan:x", "$start", ["a1"], at(2))
    await harness.redact("@dan:x", dan_change, at(3))
    # erin's latest ballot is spoiled (unknown answer)
    await harness.response("@erin:x", "$start", ["a1"], at(1))
    await harness.response("@erin:x", "$start", ["zzz"], at(2))
    # a reaction that is not a vote, and a response to another event, change nothing
    await harness.run(
        "@fred:x", lambda ctx: harness.feature.hooks.reactions[0](ctx, "$start", "👍")
    )
    await harness.response("@fred:x", "$other", ["a1"], at(1))

    result = harness.tally()
    assert dict(result.counts) == {"a1": 0, "a2": 1, "a3": 1}
    assert (result.voters, result.spoiled) == (2, 1)

    harness.clock.set(at(10))
    await harness.command_(AUTHOR, "clore", "S1")
    # a vote after the close is stored but never counted
    await harness.response("@gus:x", "$start", ["a1"], at(11))
    poll = harness.poll()
    assert poll.status == "closed" and poll.closed_by == AUTHOR
    assert poll.result is not None and poll.result["counts"] == {"a1": 0, "a2": 1, "a3": 1}
    assert dict(harness.tally().counts) == {"a1": 0, "a2": 1, "a3": 1}

    rows = {row.key: row for row in harness.outbox_rows()}
    end = rows["pollend:S1"]
    assert end.event_type == "org.matrix.msc3381.poll.end"
    assert end.content["m.relates_to"] == {"rel_type": "m.reference", "event_id": "$start"}
    assert "Égalité" not in end.content["org.matrix.msc1767.text"]
    results = rows["pollresults:S1"].content["body"]
    assert "Résultats du sondage S1 : Quel jour ?" in results
    assert "2️⃣ jeudi — 1 vote (50 %)" in results
    assert "1️⃣ mardi — 0 vote (0 %)" in results
    assert "2 votants, 1 bulletin nul" in results
    assert "Égalité entre : jeudi, vendredi" in results


async def test_polls_close_permissions_and_twice(harness):
    await harness.command_(AUTHOR, "sondage", "Q ; a ; b")
    with pytest.raises(UserError) as refused:
        await harness.command_("@mallory:x", "clore", "S1")
    assert "Only the author of poll {poll}" in refused.value.message.msgid
    with pytest.raises(UserError) as unknown:
        await harness.command_(AUTHOR, "clore", "S9")
    assert unknown.value.message.params == {"id": 9}
    await harness.command_(ORGANISER, "clore", "s1")
    with pytest.raises(UserError) as twice:
        await harness.command_(AUTHOR, "clore", "S1")
    assert "already closed" in twice.value.message.msgid


async def test_polls_timer_closes_at_end_counting_only_earlier_votes(harness):
    await harness.command_(AUTHOR, "sondage", "Q ; a ; b ; fin: dans 30 minutes ; choix: 2")
    harness.sent("poll:S1:start", "$start")
    await harness.response("@bob:x", "$start", ["a1", "a2"], at(5))
    await harness.react("@carol:x", "$start", 1, at(29))
    await harness.react("@dan:x", "$start", 0, at(31))  # after the end
    harness.clock.set(at(30))
    assert await harness.timers.fire_due() == 1
    poll = harness.poll()
    assert poll.status == "closed" and poll.closed_at == at(30)
    assert poll.result is not None and poll.result["counts"] == {"a1": 1, "a2": 2}
    results = next(r for r in harness.outbox_rows() if r.key == "pollresults:S1")
    assert "Réponse gagnante : b" in results.content["body"]
    assert "en retard" not in results.content["body"]
    assert any(r.key == "pollend:S1" for r in harness.outbox_rows())


async def test_polls_timer_late_says_so(harness):
    await harness.command_(AUTHOR, "sondage", "Q ; a ; b ; fin: dans 30 minutes")
    harness.clock.set(at(40))
    await harness.timers.fire_due()
    results = next(r for r in harness.outbox_rows() if r.key == "pollresults:S1")
    assert "clos en retard" in results.content["body"]
    assert "Aucun vote." in results.content["body"]


def client_poll_start() -> dict[str, Any]:
    """A poll Bob starts from his own client (Element), without the bot."""
    return {
        "type": "org.matrix.msc3381.poll.start",
        "event_id": "$client",
        "sender": "@bob:x",
        "origin_server_ts": to_millis(at(0)),
        "content": {
            "org.matrix.msc3381.poll.start": {
                "kind": "org.matrix.msc3381.poll.disclosed",
                "max_selections": 1,
                "question": {"org.matrix.msc1767.text": "Café ou thé ?"},
                "answers": [
                    {"id": "cafe", "org.matrix.msc1767.text": "Café"},
                    {"id": "the", "org.matrix.msc1767.text": "Thé"},
                ],
            }
        },
    }


async def test_polls_client_poll_recognised_tallied_and_ended_by_author(harness):
    start = client_poll_start()
    await harness.run("@bob:x", lambda ctx: harness.feature.hooks.polls[0](ctx, start))
    poll = harness.poll()
    assert (poll.origin, poll.author, poll.start_event_id) == ("client", "@bob:x", "$client")
    notice = harness.outbox_rows()[0].content
    assert "Sondage S1 enregistré : Café ou thé ?" in notice["body"]
    await harness.response("@carol:x", "$client", ["the"], at(1))
    await harness.react("@dan:x", "$client", 0, at(1))
    # an end from someone else is not valid (MSC3381)
    end = {
        "type": "org.matrix.msc3381.poll.end",
        "event_id": "$e1",
        "sender": "@carol:x",
        "origin_server_ts": to_millis(at(2)),
        "content": {
            "m.relates_to": {"rel_type": "m.reference", "event_id": "$client"},
            "org.matrix.msc3381.poll.end": {},
        },
    }
    await harness.run("@carol:x", lambda ctx: harness.feature.hooks.polls[0](ctx, end))
    assert harness.poll().status == "open"
    end = {**end, "event_id": "$e2", "sender": "@bob:x", "origin_server_ts": to_millis(at(3))}
    await harness.run("@bob:x", lambda ctx: harness.feature.hooks.polls[0](ctx, end))
    poll = harness.poll()
    assert poll.status == "closed" and poll.closed_at == at(3)
    keys = [r.key for r in harness.outbox_rows()]
    assert "pollend:S1" not in keys  # the author already ended it
    results = next(r for r in harness.outbox_rows() if r.key == "pollresults:S1")
    assert "Égalité entre : Café, Thé" in results.content["body"]


@pytest.mark.parametrize("bot_may_redact", [True, False])
async def test_polls_clore_ends_a_client_poll_for_everyone_only_if_the_bot_may_redact(
    harness, bot_may_redact
):
    harness.bot_may_redact = bot_may_redact
    start = client_poll_start()
    await harness.run("@bob:x", lambda ctx: harness.feature.hooks.polls[0](ctx, start))
    await harness.response("@carol:x", "$client", ["the"], at(1))
    await harness.command_(ORGANISER, "clore", "S1")
    assert harness.poll().status == "closed"
    rows = {r.key: r for r in harness.outbox_rows()}
    assert "pollresults:S1" in rows
    # MSC3381: clients accept an end event from the poll's creator or from someone who may
    # redact it; otherwise Element would ignore it, so the bot does not send one.
    assert ("pollend:S1" in rows) is bot_may_redact
    if bot_may_redact:
        end = rows["pollend:S1"]
        assert end.event_type == "org.matrix.msc3381.poll.end"
        assert end.content["m.relates_to"] == {"rel_type": "m.reference", "event_id": "$client"}


async def test_polls_cancel_poll_for_annuler(harness):
    await harness.command_(AUTHOR, "sondage", "Q ; a ; b ; fin: dans 1 heure")
    harness.sent("poll:S1:start", "$start")
    with pytest.raises(UserError):
        await harness.run("@mallory:x", lambda ctx: polls_module.cancel_poll(ctx, "S1"))
    await harness.run(AUTHOR, lambda ctx: polls_module.cancel_poll(ctx, "S1"))
    assert harness.poll().status == "cancelled"
    with harness.database.session() as session:
        assert session.exec(select(ScheduledTask)).one().status == "cancelled"
    keys = [r.key for r in harness.outbox_rows()]
    assert "pollend:S1" in keys and "pollresults:S1" not in keys
    with pytest.raises(UserError) as again:
        await harness.command_(AUTHOR, "clore", "S1")
    assert "cancelled" in again.value.message.msgid


async def test_polls_repository_lists_closed_and_open_in_a_range(harness):
    with harness.database.session() as session:
        repository = PollRepository(session)
        answers = [("a1", "a"), ("a2", "b")]
        closed = repository.add(
            room_id=ROOM,
            author=AUTHOR,
            question="Q1",
            answers=answers,
            max_selections=1,
            created_at=at(0),
        )
        repository.mark_closed(closed, closed_at=at(60), closed_by=AUTHOR, result=None)
        still_open = repository.add(
            room_id=ROOM,
            author=AUTHOR,
            question="Q2",
            answers=answers,
            max_selections=1,
            created_at=at(10),
        )
        other_room = repository.add(
            room_id="!other:x",
            author=AUTHOR,
            question="Q3",
            answers=answers,
            max_selections=1,
            created_at=at(10),
        )
        repository.add_ballot(
            still_open, voter="@b:x", ts=to_millis(at(11)), event_id="$v", selections=["a2"]
        )
    with harness.database.session() as session:
        repository = PollRepository(session)
        assert [p.id for p in repository.list_closed_between(at(0), at(120), room_id=ROOM)] == [
            closed.id
        ]
        assert repository.list_closed_between(at(61), at(120), room_id=ROOM) == []
        assert [p.id for p in repository.list_open_at(at(120), room_id=ROOM)] == [still_open.id]
        assert [p.id for p in repository.list_open_at(at(30))] == [
            closed.id,
            still_open.id,
            other_room.id,
        ]
        ballots = repository.list_ballots(still_open.id or 0)
        assert [(b.voter, b.selections, b.source) for b in ballots] == [("@b:x", ["a2"], "native")]
        assert repository.find_ballots("!other:x", "$v") == []
    assert dict(harness.tally(still_open.id or 0).counts) == {"a1": 0, "a2": 1}


def test_polls_ballot_rows_keep_millisecond_timestamps(harness):
    big = 4_102_444_800_000  # year 2100 in ms: beyond 32-bit integers
    with harness.database.session() as session:
        repository = PollRepository(session)
        poll = repository.add(
            room_id=ROOM,
            author=AUTHOR,
            question="Q",
            answers=[("a1", "a"), ("a2", "b")],
            max_selections=1,
            created_at=at(0),
        )
        repository.add_ballot(poll, voter="@b:x", ts=big, event_id="$v", selections=["a1"])
    with harness.database.session() as session:
        assert session.exec(select(PollBallot)).one().ts == big
