"""A poll's or a decision's results recomputed from its stored ballots: what closing posts and
what the digest reports (the digest reads poll results through this module only)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session

from bot.runtime.clock import to_millis
from handlers.polls.availability import AvailabilityResult, availability_result
from handlers.polls.consent import ConsentResult, consent_result
from handlers.polls.ranked import RankedResult, instant_runoff
from handlers.polls.scores import ScoreResult, score_result
from handlers.polls.tally import (
    Ballot,
    TallyResult,
    largest_remainder_percentages,
    latest_selections,
    tally,
    valid_choices,
)
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
    """Recompute a poll's tally from its stored ballots (votes after ``end`` are ignored).

    For score and ranked polls, counts are the ratings / first choices each option got and the
    winners those of their own rule: what the digest shows of every kind."""
    assert poll.id is not None
    end = end or poll.closed_at
    if poll.kind == "choice" and (poll.settings or {}).get("anonymous"):
        return _anonymous_tally(session, poll)
    ballots = [stored_ballot(row) for row in PollRepository(session).list_ballots(poll.id)]
    end_ts = to_millis(end) if end is not None else None
    if poll.kind == "score":
        scores = score_result(answer_ids(poll), _answers(session, poll, end))
        return _as_tally(scores.ratings, scores.winners, voters=scores.voters)
    if poll.kind == "when":
        slots = availability_result(answer_ids(poll), _answers(session, poll, end))
        yes = {answer_id: count.yes for answer_id, count in slots.counts.items()}
        return _as_tally(yes, (slots.best,) if slots.best else (), voters=slots.voters)
    if poll.kind == "ranked":
        ranked = instant_runoff(answer_ids(poll), _answers(session, poll, end))
        firsts = ranked.rounds[0].counts if ranked.rounds else dict.fromkeys(answer_ids(poll), 0)
        return _as_tally(firsts, ranked.winners, voters=ranked.ballots)
    return tally(answer_ids(poll), poll.max_selections, ballots, end_ts)


def _anonymous_tally(session: Session, poll: Poll) -> TallyResult:
    """An anonymous poll's count: one stored answer per voter, no one named. Answers reach the
    bot by direct message and are kept only while the poll is open, so none is late."""
    assert poll.id is not None
    rows = PollRepository(session).list_anonymous_ballots(poll.id)
    ballots = [
        Ballot(
            voter=f"ballot-{row.id}", ts=0, event_id=str(row.id), selections=tuple(row.selections)
        )
        for row in rows
    ]
    return tally(answer_ids(poll), poll.max_selections, ballots)


def _answers(session: Session, poll: Poll, end: datetime | None) -> list[tuple[str, ...]]:
    """Each voter's counted answer to a poll voted by reply or by anonymous ballot: the latest
    reply before ``end``, or the one stored anonymous answer per voter."""
    assert poll.id is not None
    repository = PollRepository(session)
    if (poll.settings or {}).get("anonymous"):
        return [tuple(row.selections) for row in repository.list_anonymous_ballots(poll.id)]
    ballots = [stored_ballot(row) for row in repository.list_ballots(poll.id)]
    end_ts = to_millis(end) if end is not None else None
    return list(latest_selections(ballots, end_ts).values())


def _as_tally(counts: Mapping[str, int], winners: tuple[str, ...], *, voters: int) -> TallyResult:
    return TallyResult(
        counts=dict(counts),
        voters=voters,
        spoiled=0,
        withdrawn=0,
        percentages=largest_remainder_percentages(counts),
        winners=winners,
    )


def ranked_result(session: Session, poll: Poll, end: datetime) -> RankedResult:
    """A ranked poll's instant-runoff from each voter's latest reply before ``end``."""
    return instant_runoff(answer_ids(poll), _answers(session, poll, end))


def when_result(session: Session, poll: Poll, end: datetime) -> AvailabilityResult:
    """A meeting-time poll's answers per slot from each voter's latest reply before ``end``."""
    return availability_result(answer_ids(poll), _answers(session, poll, end))


def scores_result(session: Session, poll: Poll, end: datetime) -> ScoreResult:
    """A score poll's averages from each voter's latest reply before ``end``."""
    return score_result(answer_ids(poll), _answers(session, poll, end))


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


def answered_by(session: Session, poll: Poll) -> set[str]:
    """Who has a vote standing on the poll now (a withdrawn vote is no answer); nobody is
    known for an anonymous poll."""
    assert poll.id is not None
    ballots = [stored_ballot(row) for row in PollRepository(session).list_ballots(poll.id)]
    return set(latest_selections(ballots))
