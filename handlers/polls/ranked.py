"""Ranked-choice polls (`type: classement`): ballots read from replies, winner by instant-runoff.

The rule, as the results state it: each round, every ballot counts for its highest-ranked
option still in the race. An option with more than half of the ballots still counting wins.
Otherwise the option with the fewest votes is eliminated and the next round begins. Ties for
the fewest: the option with fewer first choices goes; still tied, the one listed later in the
poll. When every remaining option has the same number of votes, they tie and none is
eliminated. A ballot whose ranked options are all eliminated no longer counts (exhausted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.text.errors import UserError
from bot.text.i18n import N_

_SEPARATORS = re.compile(r"[\s,;>]+")


@dataclass(frozen=True)
class Round:
    counts: Mapping[str, int]  # votes of each option still in the race, in poll order
    exhausted: int  # ballots that no longer count for anyone
    eliminated: str | None  # the option that goes after this round


@dataclass(frozen=True)
class RankedResult:
    rounds: tuple[Round, ...]
    winners: tuple[str, ...]  # one winner, several on a tie, none without ballots
    ballots: int


def read_ranking(text: str, answer_ids: Sequence[str]) -> tuple[str, ...]:
    """``2 1 3`` (or ``2, 1, 3``, ``2 > 1 > 3``) → the answer IDs in order of preference.

    Options left out are not ranked. Raises UserError naming what is wrong."""
    words = [word for word in _SEPARATORS.split(text.strip()) if word]
    if not words:
        raise UserError(N_("Write the numbers of the options, favourite first, e.g. “2 1 3”."))
    ranking: list[str] = []
    for word in words:
        if not word.isdigit() or not 1 <= int(word) <= len(answer_ids):
            raise UserError(
                N_("“{word}” is not an option number: give numbers from 1 to {max}, e.g. “2 1 3”."),
                word=word,
                max=len(answer_ids),
            )
        answer_id = answer_ids[int(word) - 1]
        if answer_id in ranking:
            raise UserError(
                N_("Option {number} is ranked twice: rank each option once."), number=word
            )
        ranking.append(answer_id)
    return tuple(ranking)


def instant_runoff(answer_ids: Sequence[str], rankings: Sequence[Sequence[str]]) -> RankedResult:
    """Apply the rule of this module's docstring to the ballots (answer IDs, favourite first)."""
    ballots = [tuple(a for a in ranking if a in answer_ids) for ranking in rankings]
    ballots = [ballot for ballot in ballots if ballot]
    if not ballots:
        return RankedResult((), (), 0)
    first_choices = {answer_id: 0 for answer_id in answer_ids}
    for ballot in ballots:
        first_choices[ballot[0]] += 1
    remaining = list(answer_ids)
    rounds: list[Round] = []
    while True:
        counts = dict.fromkeys(remaining, 0)
        exhausted = 0
        for ballot in ballots:
            top = next((a for a in ballot if a in counts), None)
            if top is None:
                exhausted += 1
            else:
                counts[top] += 1
        counting = len(ballots) - exhausted
        leader = max(remaining, key=lambda a: counts[a])
        if counts[leader] * 2 > counting:
            rounds.append(Round(counts, exhausted, None))
            return RankedResult(tuple(rounds), (leader,), len(ballots))
        if len(set(counts.values())) == 1:  # all remaining options tie
            rounds.append(Round(counts, exhausted, None))
            return RankedResult(tuple(rounds), tuple(remaining), len(ballots))
        fewest = min(counts.values())
        tied = [a for a in remaining if counts[a] == fewest]
        # fewer first choices goes; then the one listed later in the poll
        loser = min(tied, key=lambda a: (first_choices[a], -answer_ids.index(a)))
        rounds.append(Round(counts, exhausted, loser))
        remaining.remove(loser)
