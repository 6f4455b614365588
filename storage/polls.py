"""Polls and their ballots: the only place that queries the poll tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from storage.poll_models import AnonymousBallot, NudgeOptOut, Poll, PollBallot, PollReason


class PollRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- polls -------------------------------------------------------------------------------

    def add(
        self,
        *,
        room_id: str,
        author: str,
        question: str,
        answers: Sequence[tuple[str, str]],
        max_selections: int,
        created_at: datetime,
        origin: str = "command",
        kind: str = "choice",
        settings: dict[str, Any] | None = None,
        closes_at: datetime | None = None,
        start_event_id: str | None = None,
        command_event_id: str | None = None,
    ) -> Poll:
        poll = Poll(
            room_id=room_id,
            author=author,
            origin=origin,
            kind=kind,
            settings=settings,
            question=question,
            answers=[[answer_id, text] for answer_id, text in answers],
            max_selections=max_selections,
            created_at=created_at,
            closes_at=closes_at,
            start_event_id=start_event_id,
            command_event_id=command_event_id,
        )
        self.session.add(poll)
        self.session.flush()
        return poll

    def get(self, poll_id: int) -> Poll | None:
        return self.session.get(Poll, poll_id)

    def get_in_room(self, room_id: str, poll_id: int) -> Poll | None:
        """A poll by number, only if it belongs to this room (IDs are global)."""
        poll = self.get(poll_id)
        return poll if poll is not None and poll.room_id == room_id else None

    def get_by_event(self, room_id: str, event_id: str) -> Poll | None:
        """The poll whose start event (or the bot's notice about it) is ``event_id``."""
        statement = select(Poll).where(
            Poll.room_id == room_id,
            or_(col(Poll.start_event_id) == event_id, col(Poll.notice_event_id) == event_id),
        )
        return self.session.exec(statement).first()

    def update(self, poll: Poll, **values: Any) -> Poll:
        for name, value in values.items():
            if not hasattr(poll, name):
                raise AttributeError(name)
            setattr(poll, name, value)
        self.session.add(poll)
        self.session.flush()
        return poll

    def mark_closed(
        self,
        poll: Poll,
        *,
        closed_at: datetime,
        closed_by: str | None,
        result: dict[str, Any] | None,
        status: str = "closed",
    ) -> Poll:
        return self.update(
            poll, status=status, closed_at=closed_at, closed_by=closed_by, result=result
        )

    def list_for_room(self, room_id: str, *, status: str | None = None) -> list[Poll]:
        statement = select(Poll).where(Poll.room_id == room_id)
        if status is not None:
            statement = statement.where(Poll.status == status)
        return list(self.session.exec(statement.order_by(col(Poll.id))))

    def list_closed_between(
        self, start: datetime, end: datetime, *, room_id: str | None = None
    ) -> list[Poll]:
        """Polls closed (not cancelled) in ``[start, end)``, oldest close first (digest)."""
        statement = select(Poll).where(
            Poll.status == "closed",
            col(Poll.closed_at) >= start,
            col(Poll.closed_at) < end,
        )
        if room_id is not None:
            statement = statement.where(Poll.room_id == room_id)
        return list(self.session.exec(statement.order_by(col(Poll.closed_at), col(Poll.id))))

    def list_closed(self, *, room_id: str | None = None) -> list[Poll]:
        """Every poll closed (not cancelled), oldest close first (export)."""
        statement = select(Poll).where(Poll.status == "closed")
        if room_id is not None:
            statement = statement.where(Poll.room_id == room_id)
        return list(self.session.exec(statement.order_by(col(Poll.closed_at), col(Poll.id))))

    def list_open_at(self, moment: datetime, *, room_id: str | None = None) -> list[Poll]:
        """Polls created by ``moment`` and not closed or cancelled by then (digest)."""
        statement = select(Poll).where(
            col(Poll.created_at) <= moment,
            or_(col(Poll.closed_at).is_(None), col(Poll.closed_at) > moment),
        )
        if room_id is not None:
            statement = statement.where(Poll.room_id == room_id)
        return list(self.session.exec(statement.order_by(col(Poll.id))))

    # --- ballots -----------------------------------------------------------------------------

    def add_ballot(
        self,
        poll: Poll,
        *,
        voter: str,
        ts: int,
        event_id: str,
        selections: Sequence[str],
        source: str = "native",
        malformed: bool = False,
    ) -> PollBallot:
        assert poll.id is not None
        ballot = PollBallot(
            poll_id=poll.id,
            voter=voter,
            ts=ts,
            event_id=event_id,
            selections=list(selections),
            source=source,
            malformed=malformed,
        )
        self.session.add(ballot)
        self.session.flush()
        return ballot

    def list_ballots(self, poll_id: int) -> list[PollBallot]:
        statement = select(PollBallot).where(PollBallot.poll_id == poll_id)
        return list(self.session.exec(statement.order_by(col(PollBallot.id))))

    def find_ballots(self, room_id: str, event_id: str) -> list[tuple[PollBallot, Poll]]:
        """Ballots cast by event ``event_id`` in this room, with their poll (for redactions)."""
        statement = (
            select(PollBallot, Poll)
            .join(Poll, col(Poll.id) == col(PollBallot.poll_id))
            .where(PollBallot.event_id == event_id, Poll.room_id == room_id)
        )
        return [(ballot, poll) for ballot, poll in self.session.exec(statement)]

    def delete_ballot(self, ballot: PollBallot) -> None:
        self.session.delete(ballot)
        self.session.flush()

    # --- anonymous ballots -------------------------------------------------------------------

    def put_anonymous_ballot(
        self, poll: Poll, *, voter_key: str, selections: Sequence[str]
    ) -> None:
        """Keep this voter's answer, replacing their previous one."""
        assert poll.id is not None
        statement = select(AnonymousBallot).where(
            AnonymousBallot.poll_id == poll.id, AnonymousBallot.voter_key == voter_key
        )
        row = self.session.exec(statement).first() or AnonymousBallot(
            poll_id=poll.id, voter_key=voter_key, selections=[]
        )
        row.selections = list(selections)
        self.session.add(row)
        self.session.flush()

    def list_anonymous_ballots(self, poll_id: int) -> list[AnonymousBallot]:
        statement = select(AnonymousBallot).where(AnonymousBallot.poll_id == poll_id)
        return list(self.session.exec(statement.order_by(col(AnonymousBallot.id))))

    def forget_anonymous_voters(self, poll: Poll) -> None:
        """Unlink every ballot of the poll from its voter: keys and the poll's secret go."""
        assert poll.id is not None
        for row in self.list_anonymous_ballots(poll.id):
            row.voter_key = None
            self.session.add(row)
        settings = {k: v for k, v in (poll.settings or {}).items() if k != "secret"}
        self.update(poll, settings=settings)

    # --- reasons (replies to a decision) ----------------------------------------------------

    def add_reason(self, poll: Poll, *, voter: str, ts: int, event_id: str, text: str) -> None:
        assert poll.id is not None
        self.session.add(
            PollReason(poll_id=poll.id, voter=voter, ts=ts, event_id=event_id, text=text)
        )
        self.session.flush()

    def list_reasons(self, poll_id: int) -> list[PollReason]:
        """A decision's replies, oldest first."""
        statement = select(PollReason).where(PollReason.poll_id == poll_id)
        return list(self.session.exec(statement.order_by(col(PollReason.ts), col(PollReason.id))))

    def find_reasons(self, room_id: str, event_id: str) -> list[tuple[PollReason, Poll]]:
        """The reasons given by the reply ``event_id`` in this room, with their decision."""
        statement = (
            select(PollReason, Poll)
            .join(Poll, col(Poll.id) == col(PollReason.poll_id))
            .where(PollReason.event_id == event_id, Poll.room_id == room_id)
        )
        return [(reason, poll) for reason, poll in self.session.exec(statement)]

    def delete_reasons_by_event(self, room_id: str, event_id: str) -> int:
        """Forget the reply ``event_id`` (its author deleted it); how many rows went."""
        statement = (
            select(PollReason)
            .join(Poll, col(Poll.id) == col(PollReason.poll_id))
            .where(PollReason.event_id == event_id, Poll.room_id == room_id)
        )
        rows = list(self.session.exec(statement))
        for row in rows:
            self.session.delete(row)
        self.session.flush()
        return len(rows)


class NudgeOptOutRepository:
    """Who asked not to be mentioned by nudges."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def list_user_ids(self) -> set[str]:
        return set(self.session.exec(select(NudgeOptOut.user_id)))

    def add(self, user_id: str, at: datetime) -> bool:
        """Opt ``user_id`` out; False if they already were."""
        if self.session.get(NudgeOptOut, user_id) is not None:
            return False
        self.session.add(NudgeOptOut(user_id=user_id, at=at))
        self.session.flush()
        return True

    def delete(self, user_id: str) -> bool:
        """Opt ``user_id`` back in; False if they were not out."""
        row = self.session.get(NudgeOptOut, user_id)
        if row is None:
            return False
        self.session.delete(row)
        self.session.flush()
        return True
