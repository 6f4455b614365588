"""Poll tally: MSC3381 rules, the product's spoiled-ballot rules and number-emoji reactions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.polls.events import Response
from handlers.polls.tally import (
    Ballot,
    BallotSource,
    TallyResult,
    ballot_from_response,
    largest_remainder_percentages,
    reaction_ballot,
    tally,
)

ANSWERS = ("a1", "a2", "a3")
ONE = "1\ufe0f\u20e3"
TWO = "2\ufe0f\u20e3"
THREE = "3\u20e3"  # without the variation selector, as some clients send it


def native(voter: str, ts: int, *selections: str, event_id: str | None = None) -> Ballot:
    return Ballot(voter, ts, event_id or f"$n-{voter}-{ts}", tuple(selections), "native")


def react(voter: str, ts: int, answer: str, event_id: str | None = None) -> Ballot:
    return Ballot(voter, ts, event_id or f"$r-{voter}-{ts}", (answer,), "reaction")


def removal(event_id: str, ts: int = 10_000) -> Ballot:
    """A reaction's removal: its ballot carries the removed reaction's event id."""
    return Ballot("@whoever", ts, event_id, (), "reaction_removed")


def counts(result: TallyResult) -> tuple[int, ...]:
    return tuple(result.counts[answer] for answer in ANSWERS)


# (name, max_selections, ballots, end_ts, counts, voters, spoiled, withdrawn)
CASES: list[tuple[str, int, list[Ballot], int | None, tuple[int, ...], int, int, int]] = [
    ("no ballots", 1, [], None, (0, 0, 0), 0, 0, 0),
    ("one vote each", 1, [native("@a", 1, "a1"), native("@b", 2, "a2")], None, (1, 1, 0), 2, 0, 0),
    (
        "changed vote: latest counts",
        1,
        [native("@a", 1, "a1"), native("@a", 5, "a3"), native("@a", 3, "a2")],
        None,
        (0, 0, 1),
        1,
        0,
        0,
    ),
    (
        "same timestamp: event id breaks the tie",
        1,
        [native("@a", 5, "a1", event_id="$b"), native("@a", 5, "a2", event_id="$a")],
        None,
        (1, 0, 0),
        1,
        0,
        0,
    ),
    ("too many answers: spoiled", 1, [native("@a", 1, "a1", "a2")], None, (0, 0, 0), 0, 1, 0),
    (
        "too many answers in a multiple choice: spoiled",
        2,
        [native("@a", 1, "a1", "a2", "a3")],
        None,
        (0, 0, 0),
        0,
        1,
        0,
    ),
    (
        "repeated answer counts once and is not too many",
        1,
        [native("@a", 1, "a2", "a2")],
        None,
        (0, 1, 0),
        1,
        0,
        0,
    ),
    ("unknown answer: spoiled", 2, [native("@a", 1, "a1", "zz")], None, (0, 0, 0), 0, 1, 0),
    (
        "spoiled latest does not fall back to an earlier valid vote",
        1,
        [native("@a", 1, "a1"), native("@a", 2, "nope")],
        None,
        (0, 0, 0),
        0,
        1,
        0,
    ),
    (
        "valid vote after a spoiled one counts",
        1,
        [native("@a", 1, "nope"), native("@a", 2, "a1")],
        None,
        (1, 0, 0),
        1,
        0,
        0,
    ),
    (
        "malformed latest response is spoiled",
        1,
        [native("@a", 1, "a1"), Ballot("@a", 2, "$m", (), "native", malformed=True)],
        None,
        (0, 0, 0),
        0,
        1,
        0,
    ),
    (
        "empty list withdraws the vote",
        1,
        [native("@a", 1, "a1"), native("@a", 2), native("@b", 1, "a1")],
        None,
        (1, 0, 0),
        1,
        0,
        1,
    ),
    (
        "vote again after withdrawing",
        1,
        [native("@a", 1, "a1"), native("@a", 2), native("@a", 3, "a2")],
        None,
        (0, 1, 0),
        1,
        0,
        0,
    ),
    (
        "votes after the end are ignored, at the end still count",
        1,
        [native("@a", 1, "a1"), native("@a", 11, "a2"), native("@b", 10, "a3")],
        10,
        (1, 0, 1),
        2,
        0,
        0,
    ),
    ("late first vote is ignored", 1, [native("@a", 11, "a2")], 10, (0, 0, 0), 0, 0, 0),
    (
        "late withdrawal is ignored",
        1,
        [native("@a", 1, "a1"), native("@a", 20)],
        10,
        (1, 0, 0),
        1,
        0,
        0,
    ),
    (
        "multiple choice counts every selected answer",
        2,
        [native("@a", 1, "a1", "a2"), native("@b", 1, "a2")],
        None,
        (1, 2, 0),
        2,
        0,
        0,
    ),
    (
        "mixed voter: later reaction beats native",
        1,
        [native("@a", 1, "a1"), react("@a", 2, "a2")],
        None,
        (0, 1, 0),
        1,
        0,
        0,
    ),
    (
        "mixed voter: later native beats reaction",
        1,
        [react("@a", 1, "a2"), native("@a", 2, "a3")],
        None,
        (0, 0, 1),
        1,
        0,
        0,
    ),
    (
        "mixed voter: later native withdrawal beats reaction",
        1,
        [react("@a", 1, "a2"), native("@a", 2)],
        None,
        (0, 0, 0),
        0,
        0,
        1,
    ),
    (
        "single choice: latest reaction is a change of mind",
        1,
        [react("@a", 1, "a1"), react("@a", 2, "a3")],
        None,
        (0, 0, 1),
        1,
        0,
        0,
    ),
    (
        "multiple choice: reactions form one ballot",
        2,
        [react("@a", 1, "a1"), react("@a", 2, "a3"), react("@b", 1, "a3")],
        None,
        (1, 0, 2),
        2,
        0,
        0,
    ),
    (
        "multiple choice: too many reactions spoil",
        2,
        [react("@a", 1, "a1"), react("@a", 2, "a2"), react("@a", 3, "a3")],
        None,
        (0, 0, 0),
        0,
        1,
        0,
    ),
    (
        "multiple choice: duplicate reaction keys count once",
        2,
        [react("@a", 1, "a1"), react("@a", 2, "a1", event_id="$dup")],
        None,
        (1, 0, 0),
        1,
        0,
        0,
    ),
    (
        "multiple choice: reaction set is as recent as its latest reaction",
        2,
        [react("@a", 1, "a1"), native("@a", 2, "a2"), react("@a", 3, "a3")],
        None,
        (1, 0, 1),
        1,
        0,
        0,
    ),
    (
        "reaction after the end is ignored",
        1,
        [react("@a", 1, "a1"), react("@a", 20, "a2")],
        10,
        (1, 0, 0),
        1,
        0,
        0,
    ),
    (
        "removed reaction: earlier reaction counts again",
        1,
        [react("@a", 1, "a1"), react("@a", 2, "a2", event_id="$r2"), removal("$r2", ts=3)],
        None,
        (1, 0, 0),
        1,
        0,
        0,
    ),
    (
        "removed only reaction: no vote",
        1,
        [react("@a", 1, "a1", event_id="$r1"), removal("$r1", ts=2)],
        None,
        (0, 0, 0),
        0,
        0,
        0,
    ),
    (
        "removed reaction: earlier native vote stands again",
        1,
        [native("@a", 1, "a3"), react("@a", 2, "a2", event_id="$r2"), removal("$r2", ts=3)],
        None,
        (0, 0, 1),
        1,
        0,
        0,
    ),
    (
        "removing a stale reaction does not undo a later native vote",
        1,
        [react("@a", 1, "a2", event_id="$r1"), native("@a", 2, "a3"), removal("$r1", ts=3)],
        None,
        (0, 0, 1),
        1,
        0,
        0,
    ),
    (
        "multiple choice: removing one reaction shrinks the set",
        2,
        [
            react("@a", 1, "a1"),
            react("@a", 2, "a2", event_id="$r2"),
            react("@a", 3, "a3"),
            removal("$r2", ts=4),
        ],
        None,
        (1, 0, 1),
        1,
        0,
        0,
    ),
    (
        "removal after the end is ignored",
        1,
        [react("@a", 1, "a1", event_id="$r1"), removal("$r1", ts=20)],
        10,
        (1, 0, 0),
        1,
        0,
        0,
    ),
    (
        "a removal alone casts nothing",
        1,
        [removal("$nothing", ts=1)],
        None,
        (0, 0, 0),
        0,
        0,
        0,
    ),
    (
        "reaction for an unknown answer id is spoiled",
        1,
        [react("@a", 1, "a9")],
        None,
        (0, 0, 0),
        0,
        1,
        0,
    ),
]


@pytest.mark.parametrize(
    ("max_selections", "ballots", "end_ts", "expected", "voters", "spoiled", "withdrawn"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_tally_rules(
    max_selections: int,
    ballots: list[Ballot],
    end_ts: int | None,
    expected: tuple[int, ...],
    voters: int,
    spoiled: int,
    withdrawn: int,
) -> None:
    result = tally(ANSWERS, max_selections, ballots, end_ts)
    assert counts(result) == expected
    assert (result.voters, result.spoiled, result.withdrawn) == (voters, spoiled, withdrawn)


def test_tally_counts_list_every_answer_in_poll_order() -> None:
    result = tally(["z", "a", "m"], 1, [native("@a", 1, "m")])
    assert list(result.counts) == ["z", "a", "m"]
    assert dict(result.counts) == {"z": 0, "a": 0, "m": 1}
    assert list(result.percentages) == ["z", "a", "m"]


@pytest.mark.parametrize(
    ("ballots", "winners"),
    [
        ([], ()),
        ([native("@a", 1)], ()),
        ([native("@a", 1, "a2")], ("a2",)),
        ([native("@a", 1, "a1"), native("@b", 1, "a3")], ("a1", "a3")),
        ([native("@a", 1, "a1"), native("@b", 1, "a2"), native("@c", 1, "a3")], ANSWERS),
        ([native("@a", 1, "a3"), native("@b", 1, "a3"), native("@c", 1, "a1")], ("a3",)),
    ],
)
def test_tally_winners(ballots: list[Ballot], winners: tuple[str, ...]) -> None:
    assert tally(ANSWERS, 1, ballots).winners == winners


def test_tally_percentages_sum_to_100_with_thirds() -> None:
    ballots = [native("@a", 1, "a1"), native("@b", 1, "a2"), native("@c", 1, "a3")]
    result = tally(ANSWERS, 1, ballots)
    assert dict(result.percentages) == {"a1": 34, "a2": 33, "a3": 33}


def test_tally_percentages_are_zero_without_votes() -> None:
    result = tally(ANSWERS, 1, [native("@a", 1, "bad")])
    assert dict(result.percentages) == {"a1": 0, "a2": 0, "a3": 0}
    assert result.total_selections == 0


def test_tally_percentages_are_shares_of_selections_in_multiple_choice() -> None:
    result = tally(ANSWERS, 3, [native("@a", 1, "a1", "a2", "a3"), native("@b", 1, "a1")])
    assert result.total_selections == 4
    assert dict(result.percentages) == {"a1": 50, "a2": 25, "a3": 25}


@pytest.mark.parametrize(
    ("counts_in", "expected"),
    [
        ({"a": 1, "b": 1, "c": 1}, {"a": 34, "b": 33, "c": 33}),
        ({"a": 2, "b": 1}, {"a": 67, "b": 33}),
        ({"a": 1, "b": 2}, {"a": 33, "b": 67}),
        (dict.fromkeys("abcdef", 1), dict(zip("abcdef", [17, 17, 17, 17, 16, 16], strict=True))),
        ({"a": 0, "b": 5}, {"a": 0, "b": 100}),
        ({"a": 0, "b": 0}, {"a": 0, "b": 0}),
        ({"a": 1, "b": 1, "c": 1, "d": 0}, {"a": 34, "b": 33, "c": 33, "d": 0}),
        (
            dict.fromkeys("abcdefg", 7),
            dict(zip("abcdefg", [15, 15, 14, 14, 14, 14, 14], strict=True)),
        ),
        ({}, {}),
    ],
)
def test_largest_remainder_percentages(counts_in: dict[str, int], expected: dict[str, int]) -> None:
    result = largest_remainder_percentages(counts_in)
    assert result == expected
    assert all(isinstance(value, int) for value in result.values())


def test_max_selections_below_one_is_treated_as_one() -> None:
    result = tally(ANSWERS, 0, [native("@a", 1, "a1"), native("@b", 1, "a1", "a2")])
    assert (result.voters, result.spoiled) == (1, 1)


def test_duplicate_answer_ids_in_the_definition_are_listed_once() -> None:
    result = tally(["a1", "a1", "a2"], 1, [native("@a", 1, "a1")])
    assert dict(result.counts) == {"a1": 1, "a2": 0}


def test_ballot_from_response_keeps_malformed_flag() -> None:
    response = Response("$poll", "$r", "@bob", 7, (), malformed=True)
    ballot = ballot_from_response(response)
    assert ballot == Ballot("@bob", 7, "$r", (), "native", malformed=True)
    assert tally(ANSWERS, 1, [native("@bob", 1, "a1"), ballot]).spoiled == 1


@pytest.mark.parametrize(
    ("key", "answer"),
    [(ONE, "a1"), (TWO, "a2"), (THREE, "a3"), ("4\ufe0f\u20e3", None), ("🔟", None), ("👍", None)],
)
def test_reaction_ballot_maps_emoji_to_answer(key: str, answer: str | None) -> None:
    ballot = reaction_ballot(ANSWERS, "@a", 5, "$r", key)
    if answer is None:
        assert ballot is None
    else:
        assert ballot == Ballot("@a", 5, "$r", (answer,), "reaction")


def test_reaction_and_native_voter_counts_once_end_to_end() -> None:
    ballots = [
        ballot_from_response(Response("$poll", "$n1", "@a", 1, ("a1",))),
        reaction_ballot(ANSWERS, "@a", 2, "$r1", TWO),
        reaction_ballot(ANSWERS, "@b", 2, "$r2", "3\u20e3"),
        reaction_ballot(ANSWERS, "@b", 3, "$r3", "3\ufe0f\u20e3"),
    ]
    result = tally(ANSWERS, 1, [ballot for ballot in ballots if ballot is not None])
    assert counts(result) == (0, 1, 1)
    assert result.voters == 2


# --- properties -----------------------------------------------------------------------------

answer_ids = st.lists(st.sampled_from(["a1", "a2", "a3", "a4", "x"]), min_size=1, max_size=4)
sources: st.SearchStrategy[BallotSource] = st.sampled_from(
    ["native", "reaction", "reaction_removed"]
)
ballots_strategy = st.lists(
    st.builds(
        Ballot,
        voter=st.sampled_from(["@a", "@b", "@c", "@d"]),
        ts=st.integers(min_value=0, max_value=20),
        event_id=st.sampled_from([f"$e{n}" for n in range(12)]),
        selections=st.lists(st.sampled_from(["a1", "a2", "a3", "a4", "zz"]), max_size=5).map(tuple),
        source=sources,
        malformed=st.booleans(),
    ),
    max_size=25,
)


@given(
    answer_ids,
    st.integers(min_value=-2, max_value=6),
    ballots_strategy,
    st.none() | st.integers(min_value=0, max_value=20),
)
def test_tally_never_raises_and_stays_within_bounds(
    answers: list[str], max_selections: int, ballots: list[Ballot], end_ts: int | None
) -> None:
    result = tally(answers, max_selections, ballots, end_ts)
    people = {ballot.voter for ballot in ballots}
    assert result.voters + result.spoiled + result.withdrawn <= len(people)
    bound = max(1, max_selections)
    assert result.voters <= result.total_selections <= result.voters * bound
    assert set(result.counts) == set(answers)
    assert all(count >= 0 for count in result.counts.values())
    assert sum(result.percentages.values()) == (100 if result.voters else 0)
    assert set(result.winners) <= set(answers)
    assert bool(result.winners) == bool(result.voters)


@given(answer_ids, st.integers(min_value=1, max_value=3), ballots_strategy, st.data())
def test_tally_does_not_depend_on_ballot_order(
    answers: list[str], max_selections: int, ballots: list[Ballot], data: Any
) -> None:
    shuffled = data.draw(st.permutations(ballots))
    assert tally(answers, max_selections, ballots) == tally(answers, max_selections, shuffled)


@given(st.dictionaries(st.text(max_size=3), st.integers(min_value=0, max_value=10**6)))
def test_percentages_sum_to_100_and_stay_near_exact_share(counts_in: dict[str, int]) -> None:
    result = largest_remainder_percentages(counts_in)
    total = sum(counts_in.values())
    assert sum(result.values()) == (100 if total else 0)
    for key, count in counts_in.items():
        if total:
            exact_floor = count * 100 // total
            assert exact_floor <= result[key] <= exact_floor + 1
