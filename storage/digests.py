"""Digest runs, and the read-only queries the digest needs over other features' tables.

The digest only reads proposals, polls, the agenda and scheduled tasks; the queries that their
repositories do not offer (decisions taken in a period, activity counts for the charts, digest
tasks by week) live here so those features' modules stay theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.agenda_models import AgendaItem, EventRsvp
from storage.digest_models import DigestRun
from storage.models import RoomSettings, ScheduledTask
from storage.poll_models import Poll, PollBallot
from storage.proposal_models import Proposal, ProposalReaction, ProposalTag

TASK_KIND = "digest"


class ProposalRow(NamedTuple):
    id: int
    event_id: str
    author: str
    text: str
    created_at: datetime


class DigestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- runs ----------------------------------------------------------------------------

    def get(self, room_id: str, week: str) -> DigestRun | None:
        statement = select(DigestRun).where(DigestRun.room_id == room_id, DigestRun.week == week)
        return self.session.exec(statement).first()

    def last(self, room_id: str) -> DigestRun | None:
        """The room's digest that ended last (where the next one starts)."""
        statement = (
            select(DigestRun)
            .where(DigestRun.room_id == room_id)
            .order_by(col(DigestRun.period_end).desc(), col(DigestRun.id).desc())
        )
        return self.session.exec(statement).first()

    def add(
        self,
        *,
        room_id: str,
        week: str,
        period_start: datetime,
        period_end: datetime,
        trigger: str,
        created_at: datetime,
        published_by: str | None = None,
        parts: int = 1,
    ) -> DigestRun:
        run = DigestRun(
            room_id=room_id,
            week=week,
            period_start=period_start,
            period_end=period_end,
            trigger=trigger,
            published_by=published_by,
            parts=parts,
            created_at=created_at,
        )
        self.session.add(run)
        self.session.flush()  # the unique (room, week) constraint speaks here
        return run

    def list_week(self, week: str) -> list[DigestRun]:
        statement = select(DigestRun).where(DigestRun.week == week).order_by(col(DigestRun.id))
        return list(self.session.exec(statement))

    def rooms_with_runs(self) -> list[str]:
        """Every room that has posted a digest (the digest archives look for theirs)."""
        statement = select(DigestRun.room_id).distinct()
        return sorted(str(room) for room in self.session.exec(statement))

    def list_for_rooms(self, room_ids: Sequence[str]) -> list[DigestRun]:
        """These rooms' digests, newest week first (a digest archive)."""
        if not room_ids:
            return []
        statement = (
            select(DigestRun)
            .where(col(DigestRun.room_id).in_(room_ids))
            .order_by(col(DigestRun.week).desc(), col(DigestRun.id))
        )
        return list(self.session.exec(statement))

    def weeks_since(self, moment: datetime) -> list[str]:
        statement = select(DigestRun.week).where(col(DigestRun.created_at) >= moment).distinct()
        return sorted(str(week) for week in self.session.exec(statement))

    # --- rooms and tasks -----------------------------------------------------------------

    def joined_rooms(self) -> list[str]:
        statement = select(RoomSettings.room_id).where(col(RoomSettings.joined_at).is_not(None))
        return sorted(str(room) for room in self.session.exec(statement))

    def tasks(self, room_id: str) -> list[ScheduledTask]:
        """The room's digest tasks, newest first."""
        statement = (
            select(ScheduledTask)
            .where(ScheduledTask.room_id == room_id, ScheduledTask.kind == TASK_KIND)
            .order_by(col(ScheduledTask.id).desc())
        )
        return list(self.session.exec(statement))

    def pending_tasks(self, room_id: str) -> list[ScheduledTask]:
        """The room's pending digest tasks (one, unless a schedule change is under way)."""
        statement = select(ScheduledTask).where(
            ScheduledTask.room_id == room_id,
            ScheduledTask.kind == TASK_KIND,
            ScheduledTask.status == "pending",
        )
        return list(self.session.exec(statement))

    def latest_task(self, room_id: str) -> ScheduledTask | None:
        """The room's newest digest task, whatever its status."""
        statement = (
            select(ScheduledTask)
            .where(ScheduledTask.room_id == room_id, ScheduledTask.kind == TASK_KIND)
            .order_by(col(ScheduledTask.id).desc())
            .limit(1)
        )
        return self.session.exec(statement).first()

    def task(self, key: str) -> ScheduledTask | None:
        return self.session.exec(select(ScheduledTask).where(ScheduledTask.key == key)).first()

    def pending_keys_for_week(self, week: str) -> list[str]:
        statement = select(ScheduledTask.key).where(
            ScheduledTask.kind == TASK_KIND,
            ScheduledTask.status == "pending",
            col(ScheduledTask.key).endswith(f":{week}"),
        )
        return [str(key) for key in self.session.exec(statement)]

    def revive_task(self, task: ScheduledTask, due_at: datetime) -> None:
        """Make a cancelled task of this key pending again at a new time (keys are unique)."""
        task.status, task.due_at, task.done_at = "pending", due_at, None
        self.session.add(task)
        self.session.flush()

    # --- what happened in a period -------------------------------------------------------
    # Column queries (no ORM objects): a busy week has thousands of proposals.

    def _in_period(self, statement: Any, room_id: str, start: datetime, end: datetime) -> Any:
        return statement.where(
            Proposal.room_id == room_id,
            col(Proposal.created_at) >= start,
            col(Proposal.created_at) < end,
        )

    def proposal_rows(self, room_id: str, start: datetime, end: datetime) -> list[ProposalRow]:
        """The period's proposals, oldest first: (id, event_id, author, text, created_at)."""
        columns: list[Any] = [
            Proposal.id, Proposal.event_id, Proposal.author, Proposal.text, Proposal.created_at
        ]  # fmt: skip
        statement = self._in_period(sa_select(*columns), room_id, start, end).order_by(
            col(Proposal.created_at), col(Proposal.id)
        )
        return [ProposalRow(*row) for row in self.session.execute(statement)]

    def proposal_tags(self, room_id: str, start: datetime, end: datetime) -> dict[int, list[str]]:
        """Folded tags (as stored) of the period's proposals, in the order written."""
        statement = self._in_period(
            select(ProposalTag.proposal_id, ProposalTag.folded).join(
                Proposal, col(Proposal.id) == col(ProposalTag.proposal_id)
            ),
            room_id,
            start,
            end,
        ).order_by(col(ProposalTag.proposal_id), col(ProposalTag.position))
        tags: dict[int, list[str]] = {}
        for proposal_id, folded in self.session.exec(statement):
            tags.setdefault(int(proposal_id), []).append(str(folded))
        return tags

    def proposal_supports(self, room_id: str, start: datetime, end: datetime) -> dict[int, int]:
        """Distinct supporters per proposal of the period."""
        statement = self._in_period(
            select(
                ProposalReaction.proposal_id, func.count(func.distinct(ProposalReaction.user_id))
            )
            .join(Proposal, col(Proposal.id) == col(ProposalReaction.proposal_id))
            .where(ProposalReaction.kind == "support"),
            room_id,
            start,
            end,
        ).group_by(col(ProposalReaction.proposal_id))
        return {int(pid): int(n) for pid, n in self.session.exec(statement)}

    def proposal_statuses(self, room_id: str, start: datetime, end: datetime) -> dict[int, str]:
        """The latest organiser mark still in place per proposal of the period."""
        statement = self._in_period(
            select(ProposalReaction.proposal_id, ProposalReaction.kind)
            .join(Proposal, col(Proposal.id) == col(ProposalReaction.proposal_id))
            .where(col(ProposalReaction.kind).in_(("retained", "set_aside"))),
            room_id,
            start,
            end,
        ).order_by(col(ProposalReaction.created_at), col(ProposalReaction.id))
        return {int(pid): str(kind) for pid, kind in self.session.exec(statement)}

    def tag_spellings(self, room_id: str) -> list[tuple[str, str, int]]:
        """(folded, display, uses) for every tag spelling of the room, first written first."""
        statement = (
            select(ProposalTag.folded, ProposalTag.display, func.count(), func.min(ProposalTag.id))
            .join(Proposal, col(Proposal.id) == col(ProposalTag.proposal_id))
            .where(Proposal.room_id == room_id)
            .group_by(col(ProposalTag.folded), col(ProposalTag.display))
            .order_by(func.min(ProposalTag.id))
        )
        return [(str(f), str(d), int(n)) for f, d, n, _ in self.session.exec(statement)]

    def retained_between(self, room_id: str, start: datetime, end: datetime) -> list[int]:
        """Proposals marked retained during the period (the status is checked by the caller)."""
        statement = (
            select(ProposalReaction.proposal_id)
            .join(Proposal, col(Proposal.id) == col(ProposalReaction.proposal_id))
            .where(
                Proposal.room_id == room_id,
                ProposalReaction.kind == "retained",
                col(ProposalReaction.created_at) >= start,
                col(ProposalReaction.created_at) < end,
            )
            .order_by(col(ProposalReaction.created_at))
        )
        seen: dict[int, None] = {}
        for proposal_id in self.session.exec(statement):
            seen.setdefault(int(proposal_id), None)
        return list(seen)

    def proposal_times(
        self, room_ids: Sequence[str], start: datetime
    ) -> list[tuple[str, datetime]]:
        statement = select(Proposal.room_id, Proposal.created_at).where(
            col(Proposal.room_id).in_(room_ids), col(Proposal.created_at) >= start
        )
        return [(str(room), moment) for room, moment in self.session.exec(statement)]

    def vote_times(self, room_ids: Sequence[str], start_ms: int) -> list[tuple[str, int]]:
        statement = (
            select(Poll.room_id, PollBallot.ts)
            .join(Poll, col(Poll.id) == col(PollBallot.poll_id))
            .where(
                col(Poll.room_id).in_(room_ids),
                col(PollBallot.ts) >= start_ms,
                PollBallot.source != "reaction_removed",
            )
        )
        return [(str(room), int(ts)) for room, ts in self.session.exec(statement)]

    def rsvp_times(self, room_ids: Sequence[str], start: datetime) -> list[tuple[str, datetime]]:
        statement = (
            select(AgendaItem.room_id, EventRsvp.answered_at)
            .join(AgendaItem, col(AgendaItem.id) == col(EventRsvp.item_id))
            .where(col(AgendaItem.room_id).in_(room_ids), col(EventRsvp.answered_at) >= start)
        )
        return [(str(room), moment) for room, moment in self.session.exec(statement)]
