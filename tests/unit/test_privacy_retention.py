"""The daily retention task with the unit test kit and a frozen clock: what it purges, what
it keeps, when it runs next, and a run missed while the bot was down. The retention period is
the shipped one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import ROOM, Harness, shipped_config
from sqlmodel import select

from bot.runtime.clock import to_millis
from handlers.privacy import retention
from storage.agenda_models import AgendaItem, EventRsvp
from storage.models import OutboxMessage, ProcessedEvent, ScheduledTask
from storage.poll_models import Poll, PollBallot
from storage.privacy_models import PrivacyForgetRequest
from storage.proposal_models import Proposal, ProposalReaction, ProposalTag
from storage.proposals import ProposalRepository, TagSpelling
from storage.state import ProcessedEventRepository

ALICE = "@alice:test"
KEPT = timedelta(days=shipped_config().privacy.retention_days)


def rows(bot: Harness, model: Any) -> list[Any]:
    with bot.database.session() as session:
        return list(session.exec(select(model)))


def retention_tasks(bot: Harness) -> list[tuple[str, str, datetime]]:
    return sorted(
        (t.key, t.status, t.due_at)
        for t in rows(bot, ScheduledTask)
        if t.key.startswith("retention:")
    )


def seed(bot: Harness, at: datetime, tag: str) -> None:
    with bot.database.session() as session:
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


async def test_privacy_retention_purges_what_is_older_than_the_period_and_plans_tomorrow(bot):
    now = bot.clock.now()  # Monday 15 June 2026, 08:00 UTC
    seed(bot, now - KEPT - timedelta(days=10), "ancienne")
    seed(bot, now - timedelta(days=10), "recente")
    digests = bot.config.data_path / "digests"
    digests.mkdir(parents=True)
    for name in ("2025-W18.md", "2025-W18.html", "2026-W23.md", "2026-W23.html"):
        (digests / name).write_text("résumé", encoding="utf-8")
    with bot.database.session() as session:
        session.add(PrivacyForgetRequest(user_id=ALICE, room_id=ROOM, requested_at=now))

    bot.start()
    tomorrow_4am = datetime(2026, 6, 16, 4, 0, tzinfo=UTC)
    assert retention_tasks(bot) == [("retention:2026-06-16", "pending", tomorrow_4am)]
    assert await bot.timers.fire_due() == 0  # nothing before 04:00

    bot.clock.set(tomorrow_4am)
    assert await bot.timers.fire_due() == 1
    assert [p.text for p in rows(bot, Proposal)] == ["Proposition recente"]
    [recent] = rows(bot, Proposal)
    assert {t.proposal_id for t in rows(bot, ProposalTag)} == {recent.id}
    assert {r.proposal_id for r in rows(bot, ProposalReaction)} == {recent.id}
    assert [b.event_id for b in rows(bot, PollBallot)] == ["$b-recente"]
    assert [r.reaction_event_id for r in rows(bot, EventRsvp)] == ["$e-recente"]
    assert [e.event_id for e in rows(bot, ProcessedEvent)] == ["$seen-recente"]
    assert rows(bot, PrivacyForgetRequest) == []  # unconfirmed requests expire
    assert sorted(p.name for p in digests.iterdir()) == ["2026-W23.html", "2026-W23.md"]
    assert retention_tasks(bot) == [
        ("retention:2026-06-16", "done", tomorrow_4am),
        ("retention:2026-06-17", "pending", tomorrow_4am + timedelta(days=1)),
    ]


async def test_privacy_retention_scrubs_old_copies_of_sent_messages(bot):
    now = bot.clock.now()
    with bot.database.session() as session:
        for key, sent_at in (
            ("old", now - KEPT - timedelta(days=1)),
            ("new", now - timedelta(days=1)),
        ):
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
    bot.start()
    bot.clock.advance(timedelta(days=1))
    await bot.timers.fire_due()
    contents = {m.key: m.content for m in rows(bot, OutboxMessage)}
    assert contents == {"old": {}, "new": {"body": "Proposition de Alice"}}


async def test_privacy_retention_missed_while_down_runs_at_start_instead_of_being_missed(bot):
    bot.start()  # plans 16 June 04:00
    bot.clock.advance(timedelta(days=2))  # the bot was down over two 04:00s
    # at start, overdue tasks over an hour late become "missed": not the purge
    restarted = bot.restart()
    assert [status for _, status, _ in retention_tasks(restarted)] == ["pending", "pending"]
    assert await restarted.timers.fire_due() == 1
    statuses = {key: status for key, status, _ in retention_tasks(restarted)}
    assert statuses == {"retention:2026-06-16": "done", "retention:2026-06-18": "pending"}


async def test_privacy_retention_purges_in_steps_and_lets_the_bot_answer_between_them(
    bot, monkeypatch
):
    monkeypatch.setattr(retention, "PURGE_STEP", 3)
    now = bot.clock.now()
    for number in range(8):
        seed(bot, now - KEPT - timedelta(days=10), f"ancienne{number}")
    seed(bot, now - timedelta(days=10), "recente")
    turns = 0
    purging = True

    async def someone_else() -> None:  # stands for the sync loop answering a command
        nonlocal turns
        while purging:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.ensure_future(someone_else())
    report = await retention.purge_in_steps(bot.database, now - KEPT)
    purging = False
    await other
    assert (report.proposals, report.ballots, report.rsvps) == (8, 8, 8)
    assert [p.text for p in rows(bot, Proposal)] == ["Proposition recente"]
    assert len(rows(bot, ProposalTag)) == len(rows(bot, ProposalReaction)) == 1
    assert turns >= 3  # 8 rows in steps of 3: the others ran between the steps
