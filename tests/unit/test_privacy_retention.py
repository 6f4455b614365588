"""The daily retention task with a frozen clock: what it purges, what it keeps, when it runs
next, and a run missed while the bot was down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import BOT, ROOM, RecordingSender
from sqlmodel import select

from bot.runtime.clock import FrozenClock, to_millis
from bot.runtime.config import (
    BotConfig,
    Config,
    LoggingConfig,
    MatrixConfig,
    PrivacyConfig,
    StorageConfig,
)
from bot.runtime.kit import Services
from bot.runtime.messages import MessageRenderer
from bot.runtime.outbox import Outbox
from bot.runtime.timers import Timers
from bot.text.i18n import Translations
from handlers.privacy import retention
from storage.agenda_models import AgendaItem, EventRsvp
from storage.models import OutboxMessage, ProcessedEvent, ScheduledTask
from storage.poll_models import Poll, PollBallot
from storage.privacy_models import PrivacyForgetRequest
from storage.proposal_models import Proposal, ProposalReaction, ProposalTag
from storage.proposals import ProposalRepository, TagSpelling
from storage.state import ProcessedEventRepository

ALICE = "@alice:test"


class Kit:
    def __init__(self, database: Any, clock: FrozenClock, data_dir: Path) -> None:
        self.database, self.clock = database, clock
        config = Config(
            matrix=MatrixConfig(homeserver="http://127.0.0.1:1", user_id=BOT),
            bot=BotConfig(),
            storage=StorageConfig(data_dir=str(data_dir)),
            privacy=PrivacyConfig(retention_days=30),
            logging=LoggingConfig(),
        )
        translations = Translations()
        sender = RecordingSender()
        self.timers = Timers(database, clock)
        self.services = Services(
            config,
            database,
            clock,
            Outbox(database, sender, clock),  # type: ignore[arg-type]
            self.timers,
            MessageRenderer(translations),
            translations,
            sender,  # type: ignore[arg-type]
        )
        for kind in retention.feature(self.services).task_kinds:
            self.timers.register(kind)

    def rows(self, model: Any) -> list[Any]:
        with self.database.session() as session:
            return list(session.exec(select(model)))

    def tasks(self) -> list[tuple[str, str, datetime]]:
        return sorted((t.key, t.status, t.due_at) for t in self.rows(ScheduledTask))


@pytest.fixture
def kit(database, clock, tmp_path) -> Kit:
    return Kit(database, clock, tmp_path / "data")


def seed(kit: Kit, at: datetime, tag: str) -> None:
    with kit.database.session() as session:
        proposal = ProposalRepository(session).add(
            room_id=ROOM,
            event_id=f"$p-{tag}",
            author=ALICE,
            text=f"Proposition {tag}",
            tags=[TagSpelling(tag, tag)],
            source="command",
            created_at=at,
        )
        ProposalRepository(session).add_reaction(
            proposal, reaction_event_id=f"$r-{tag}", user_id="@bob:test", kind="support", at=at
        )
        poll = Poll(room_id=ROOM, author=ALICE, question="?", answers=[["a", "A"]], created_at=at)
        item = AgendaItem(
            kind="event",
            room_id=ROOM,
            title=tag,
            starts_at=at,
            timezone="UTC",
            author=ALICE,
            created_at=at,
        )
        session.add(poll)
        session.add(item)
        session.flush()
        assert poll.id is not None and item.id is not None
        session.add(
            PollBallot(
                poll_id=poll.id,
                voter=ALICE,
                ts=to_millis(at),
                event_id=f"$b-{tag}",
                selections=["a"],
            )
        )
        session.add(
            EventRsvp(
                item_id=item.id,
                user_id=ALICE,
                answer="going",
                reaction_event_id=f"$e-{tag}",
                answered_at=at,
            )
        )
        ProcessedEventRepository(session).add(f"$seen-{tag}", ROOM, at)


def test_privacy_next_retention_is_the_next_4am_utc():
    assert retention.next_retention(datetime(2026, 6, 15, 3, 59, tzinfo=UTC)) == datetime(
        2026, 6, 15, 4, 0, tzinfo=UTC
    )
    assert retention.next_retention(datetime(2026, 6, 15, 4, 0, tzinfo=UTC)) == datetime(
        2026, 6, 16, 4, 0, tzinfo=UTC
    )


async def test_privacy_retention_purges_what_is_older_than_the_period_and_plans_tomorrow(kit):
    now = kit.clock.now()  # Monday 15 June 2026, 08:00 UTC
    seed(kit, now - timedelta(days=40), "ancienne")
    seed(kit, now - timedelta(days=10), "recente")
    digests = kit.services.config.data_path / "digests"
    digests.mkdir(parents=True)
    for name in ("2026-W18.md", "2026-W18.html", "2026-W23.md", "2026-W23.html"):
        (digests / name).write_text("résumé", encoding="utf-8")
    with kit.database.session() as session:
        session.add(PrivacyForgetRequest(user_id=ALICE, room_id=ROOM, requested_at=now))

    retention.Retention(kit.services).prepare()
    tomorrow_4am = datetime(2026, 6, 16, 4, 0, tzinfo=UTC)
    assert kit.tasks() == [("retention:2026-06-16", "pending", tomorrow_4am)]
    assert await kit.timers.fire_due() == 0  # nothing before 04:00

    kit.clock.set(tomorrow_4am)
    assert await kit.timers.fire_due() == 1
    assert [p.text for p in kit.rows(Proposal)] == ["Proposition recente"]
    [recent] = kit.rows(Proposal)
    assert {t.proposal_id for t in kit.rows(ProposalTag)} == {recent.id}
    assert {r.proposal_id for r in kit.rows(ProposalReaction)} == {recent.id}
    assert [b.event_id for b in kit.rows(PollBallot)] == ["$b-recente"]
    assert [r.reaction_event_id for r in kit.rows(EventRsvp)] == ["$e-recente"]
    assert [e.event_id for e in kit.rows(ProcessedEvent)] == ["$seen-recente"]
    assert kit.rows(PrivacyForgetRequest) == []  # unconfirmed requests expire
    assert sorted(p.name for p in digests.iterdir()) == ["2026-W23.html", "2026-W23.md"]
    assert kit.tasks() == [
        ("retention:2026-06-16", "done", tomorrow_4am),
        ("retention:2026-06-17", "pending", tomorrow_4am + timedelta(days=1)),
    ]


async def test_privacy_retention_scrubs_old_copies_of_sent_messages(kit):
    now = kit.clock.now()
    with kit.database.session() as session:
        for key, sent_at in (("old", now - timedelta(days=31)), ("new", now - timedelta(days=1))):
            session.add(
                OutboxMessage(
                    key=key,
                    room_id=ROOM,
                    event_type="m.room.message",
                    content={"body": "Proposition de Alice"},
                    txn_id=key,
                    status="sent",
                    next_attempt_at=sent_at,
                    created_at=sent_at,
                    sent_at=sent_at,
                )
            )
    retention.Retention(kit.services).prepare()
    kit.clock.advance(timedelta(days=1))
    await kit.timers.fire_due()
    contents = {m.key: m.content for m in kit.rows(OutboxMessage)}
    assert contents == {"old": {}, "new": {"body": "Proposition de Alice"}}


async def test_privacy_retention_missed_while_down_runs_at_start_instead_of_being_missed(kit):
    retention.Retention(kit.services).prepare()  # plans 16 June 04:00
    kit.clock.advance(timedelta(days=2))  # the bot was down over two 04:00s
    retention.Retention(kit.services).prepare()
    kit.timers.rebuild()  # what start does: overdue tasks over an hour late become "missed"
    assert [status for _, status, _ in kit.tasks()] == ["pending", "pending"]
    assert await kit.timers.fire_due() == 1
    statuses = {key: status for key, status, _ in kit.tasks()}
    assert statuses == {"retention:2026-06-16": "done", "retention:2026-06-18": "pending"}


async def test_privacy_retention_purges_in_steps_and_lets_the_bot_answer_between_them(
    kit, monkeypatch
):
    monkeypatch.setattr(retention, "PURGE_STEP", 3)
    now = kit.clock.now()
    for number in range(8):
        seed(kit, now - timedelta(days=40), f"ancienne{number}")
    seed(kit, now - timedelta(days=10), "recente")
    turns = 0
    purging = True

    async def someone_else() -> None:  # stands for the sync loop answering a command
        nonlocal turns
        while purging:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.ensure_future(someone_else())
    report = await retention.purge_in_steps(kit.database, now - timedelta(days=30))
    purging = False
    await other
    assert (report.proposals, report.ballots, report.rsvps) == (8, 8, 8)
    assert [p.text for p in kit.rows(Proposal)] == ["Proposition recente"]
    assert len(kit.rows(ProposalTag)) == len(kit.rows(ProposalReaction)) == 1
    assert turns >= 3  # 8 rows in steps of 3: the others ran between the steps
