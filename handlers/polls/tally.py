"""Poll tally: who voted for what, following MSC3381 and the product's stricter rules.

Rules, in order:

1. Ballots after the end timestamp are ignored (a ballot exactly at the end still counts).
2. Only each voter's latest ballot, by ``(ts, event_id)``, counts — native responses and
   number-emoji reactions together, so someone who votes both ways counts once. A latest
   ballot that is spoiled stays spoiled: it never falls back to an earlier valid one.
3. An empty selection means the voter withdrew: no vote, not spoiled.
4. A ballot is spoiled when it is unreadable, names an unknown answer, or selects more answers
   than allowed (repeated ids count once). MSC3381 would truncate; the product spoils instead.

Reaction input shape: pass one ``Ballot(source="reaction")`` per number-emoji reaction,
with its own event id and the single answer id it votes for (see ``reaction_ballot``).
Removed reactions are expressed either by leaving them out (pass the current reaction state)
or by adding a ``Ballot(source="reaction_removed")`` whose ``event_id`` is the removed
reaction's event id (pass a log). A removal cancels that reaction whatever the reaction's
timestamp, so the voter's previous ballot stands again, as MSC3381 says of a redacted
response; like any other action, a removal after the end is ignored (with the current-state
shape, snapshot the reactions when the poll ends). A voter's remaining reactions then form
one ballot: with ``max_selections == 1`` the latest reaction alone (a change of mind); with
more, the set of all of them, timestamped by the latest one (so too many reactions spoil it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from handlers.polls.events import Response, reaction_vote

BallotSource = Literal["native", "reaction", "reaction_removed"]


@dataclass(frozen=True)
class Ballot:
    """One voter's word on a poll: a native response, a reaction, or a reaction's removal."""

    voter: str
    ts: int
    event_id: str
    selections: tuple[str, ...]
    source: BallotSource = "native"
    malformed: bool = False  # unreadable selections: spoiled if it is the voter's latest


@dataclass(frozen=True)
class TallyResult:
    """Counts per answer (all answers, in poll order), valid voters, spoiled ballots.

    ``percentages`` are shares of all selections, integers summing to 100 when anyone voted.
    ``winners`` are the answers with the highest count, empty when nobody voted.
    """

    counts: Mapping[str, int]
    voters: int
    spoiled: int
    withdrawn: int
    percentages: Mapping[str, int]
    winners: tuple[str, ...]

    @property
    def total_selections(self) -> int:
        """All selections counted (more than ``voters`` in a multiple-choice poll)."""
        return sum(self.counts.values())


def ballot_from_response(response: Response) -> Ballot:
    """The ballot a parsed native poll response casts."""
    return Ballot(
        voter=response.sender,
        ts=response.ts,
        event_id=response.event_id,
        selections=response.selections,
        source="native",
        malformed=response.malformed,
    )


def reaction_ballot(
    answer_ids: Sequence[str], voter: str, ts: int, event_id: str, key: str
) -> Ballot | None:
    """The ballot a reaction casts, or ``None`` if it is not a number emoji for an answer.

    A number past the poll's answers (🔟 on a three-answer poll) is an ordinary reaction.
    """
    index = reaction_vote(key)
    if index is None or index >= len(answer_ids):
        return None
    return Ballot(voter, ts, event_id, (answer_ids[index],), source="reaction")


def tally(
    answer_ids: Sequence[str],
    max_selections: int,
    ballots: Iterable[Ballot],
    end_ts: int | None = None,
) -> TallyResult:
    """Count a poll's ballots by the rules in this module's docstring."""
    max_selections = max(1, max_selections)  # MSC3381: at least 1
    counts = dict.fromkeys(answer_ids, 0)
    voters = spoiled = withdrawn = 0
    for ballot in _latest_ballots(ballots, max_selections, end_ts):
        verdict = _judge(ballot, counts, max_selections)
        if verdict == "valid":
            voters += 1
            for answer_id in dict.fromkeys(ballot.selections):
                counts[answer_id] += 1
        elif verdict == "spoiled":
            spoiled += 1
        else:
            withdrawn += 1
    return TallyResult(
        counts=counts,
        voters=voters,
        spoiled=spoiled,
        withdrawn=withdrawn,
        percentages=largest_remainder_percentages(counts),
        winners=_winners(counts),
    )


def valid_choices(
    answer_ids: Sequence[str],
    max_selections: int,
    ballots: Iterable[Ballot],
    end_ts: int | None = None,
) -> dict[str, tuple[str, ...]]:
    """Who chose what, by the same rules as ``tally``: each voter whose latest ballot counts,
    with its selections (a decision lists the people whose vote is an objection)."""
    max_selections = max(1, max_selections)
    known = dict.fromkeys(answer_ids, 0)
    return {
        ballot.voter: tuple(dict.fromkeys(ballot.selections))
        for ballot in _latest_ballots(ballots, max_selections, end_ts)
        if _judge(ballot, known, max_selections) == "valid"
    }


def latest_selections(
    ballots: Iterable[Ballot], end_ts: int | None = None
) -> dict[str, tuple[str, ...]]:
    """Each voter's latest non-empty, readable ballot before the end, as cast (score and
    ranked polls read their replies so: the latest reply counts, a deleted one is forgotten)."""
    return {
        ballot.voter: ballot.selections
        for ballot in _latest_ballots(ballots, 1, end_ts)
        if ballot.selections and not ballot.malformed
    }


def _latest_ballots(
    ballots: Iterable[Ballot], max_selections: int, end_ts: int | None
) -> list[Ballot]:
    """Each voter's latest ballot before the end, reactions folded into one ballot first."""
    timely = [ballot for ballot in ballots if end_ts is None or ballot.ts <= end_ts]
    removed = {ballot.event_id for ballot in timely if ballot.source == "reaction_removed"}
    by_voter: dict[str, list[Ballot]] = {}
    for ballot in timely:
        if ballot.source == "reaction_removed" or ballot.event_id in removed:
            continue
        by_voter.setdefault(ballot.voter, []).append(ballot)
    latest: list[Ballot] = []
    for voter_ballots in by_voter.values():
        candidates = [ballot for ballot in voter_ballots if ballot.source == "native"]
        reactions = [ballot for ballot in voter_ballots if ballot.source == "reaction"]
        if reactions:
            candidates.append(_combine_reactions(reactions, max_selections))
        latest.append(max(candidates, key=_order))
    return latest


def _combine_reactions(reactions: list[Ballot], max_selections: int) -> Ballot:
    """One ballot from a voter's current reactions (see the module docstring)."""
    ordered = sorted(reactions, key=_order)
    last = ordered[-1]
    if max_selections <= 1:
        return last
    selections = tuple(dict.fromkeys(s for ballot in ordered for s in ballot.selections))
    return Ballot(last.voter, last.ts, last.event_id, selections, source="reaction")


def _order(ballot: Ballot) -> tuple[int, str, str, tuple[str, ...], bool]:
    """Latest by ``(ts, event_id)``; the rest only makes the tally independent of input order."""
    return (ballot.ts, ballot.event_id, ballot.source, ballot.selections, ballot.malformed)


def _judge(
    ballot: Ballot, counts: Mapping[str, int], max_selections: int
) -> Literal["valid", "spoiled", "withdrawn"]:
    """Whether a voter's latest ballot counts, is spoiled, or withdraws their vote."""
    if ballot.malformed:
        return "spoiled"
    selections = set(ballot.selections)
    if not selections:
        return "withdrawn"
    if len(selections) > max_selections or not selections <= counts.keys():
        return "spoiled"
    return "valid"


def _winners(counts: Mapping[str, int]) -> tuple[str, ...]:
    """Answers sharing the highest count; none when nobody voted."""
    top = max(counts.values(), default=0)
    if top == 0:
        return ()
    return tuple(answer_id for answer_id, count in counts.items() if count == top)


def largest_remainder_percentages(counts: Mapping[str, int]) -> dict[str, int]:
    """Integer percentages of the total that sum to exactly 100 (largest remainder method).

    Leftover points go to the largest remainders, ties to the earlier answer; an all-zero
    input gives all zeros. Integer arithmetic only, so results never depend on floats.
    """
    total = sum(counts.values())
    if total <= 0:
        return dict.fromkeys(counts, 0)
    shares = {key: divmod(count * 100, total) for key, count in counts.items()}
    result = {key: whole for key, (whole, _) in shares.items()}
    leftover = 100 - sum(result.values())
    order = sorted(shares, key=lambda key: -shares[key][1])  # stable: earlier answer first
    for key in order[:leftover]:
        result[key] += 1
    return result
