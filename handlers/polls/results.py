"""A poll's or a decision's results recomputed from its stored ballots: what closing posts and
what the digest reports (the digest reads poll results through this module only)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.runtime.clock import to_millis
from handlers.polls.consent import ConsentResult, consent_result
from handlers.polls.tally import Ballot, TallyResult, tally, valid_choices
from storage.poll_models import Poll, PollBallot
from storage.polls import PollRepository


def stored_ballot(row: PollBallot) -> Ballot:
    source = row.source if row.source in ("native", "reaction", "reaction_removed") else "native"
    return Ballot(
        voter=row.voter,
        ts=row.ts,
        event_id=row.event_id,
        selections=tuple(row.selections),
        source=source,  # type: ignore[arg-type]
        malformed=row.malformed,
    )


def answer_ids(poll: Poll) -> list[str]:
    """The poll's answer IDs, in the order they were offered."""
    return [answer_id for answer_id, _ in poll.answers]


def poll_tally(session: Session, poll: Poll, end: datetime | None = None) -> TallyResult:
    """Recompute a poll's tally from its stored ballots (votes after ``end`` are ignored)."""
    assert poll.id is not None
    end = end or poll.closed_at
    ballots = [stored_ballot(row) for row in PollRepository(session).list_ballots(poll.id)]
    end_ts = to_millis(end) if end is not None else None
    return tally(answer_ids(poll), poll.max_selections, ballots, end_ts)


def decision_result(session: Session, poll: Poll, end: datetime | None = None) -> ConsentResult:
    """Recompute a decision's result: counted votes and standing objections with their reasons
    (votes and replies after ``end`` are ignored)."""
    assert poll.id is not None
    end = end or poll.closed_at
    repository = PollRepository(session)
    ballots = [stored_ballot(row) for row in repository.list_ballots(poll.id)]
    end_ts = to_millis(end) if end is not None else None
    choices = valid_choices(answer_ids(poll), poll.max_selections, ballots, end_ts)
    reasons = [
        (row.voter, row.ts, row.text)
        for row in repository.list_reasons(poll.id)
        if end_ts is None or row.ts <= end_ts
    ]
    return consent_result(choices, reasons)
