"""Score polls (`type: notes`): each option rated from 0 to 5 in a reply; results by average.

The rule, as the results state it: an option's score is the average of the ratings it got,
shown with how many people rated it; options nobody rated have no average. The best average
wins; equal averages go to the option rated by more people; still equal, they tie.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from bot.text.errors import UserError
from bot.text.i18n import N_

MAX_SCORE = 5
_PAIR = re.compile(r"^(\d{1,2})\s*[:=]\s*(\d)$")
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class ScoreResult:
    averages: Mapping[str, Fraction | None]  # None: nobody rated it
    ratings: Mapping[str, int]
    winners: tuple[str, ...]
    voters: int


def read_scores(text: str, answer_ids: Sequence[str]) -> tuple[str, ...]:
    """``4 2 5`` (one score per option, in order) or ``1:4 3:5`` (option: score) → stored
    selections ``("a1:4", "a3:5")``. Raises UserError naming what is wrong."""
    pairs = re.sub(r"\s*([:=])\s*", r"\1", text.strip())
    words = [word for word in _SEPARATORS.split(pairs) if word]
    example = " ".join(str(min(n + 2, MAX_SCORE)) for n in range(len(answer_ids)))
    if not words:
        raise UserError(
            N_("Give a score from 0 to 5 to each option, e.g. “{example}”."), example=example
        )
    chosen: dict[str, int] = {}
    if all(_PAIR.match(word) for word in words):
        for word in words:
            match = _PAIR.match(word)
            assert match is not None
            number, score = int(match.group(1)), int(match.group(2))
            if not 1 <= number <= len(answer_ids):
                raise UserError(
                    N_("There is no option {number}: the options go from 1 to {max}."),
                    number=number,
                    max=len(answer_ids),
                )
            if answer_ids[number - 1] in chosen:
                raise UserError(N_("Option {number} is rated twice: rate it once."), number=number)
            chosen[answer_ids[number - 1]] = score
    elif len(words) == len(answer_ids) and all(word.isdigit() for word in words):
        chosen = {answer_id: int(word) for answer_id, word in zip(answer_ids, words, strict=True)}
    else:
        raise UserError(
            N_(
                "Give one score per option, in order (“{example}”), or option:score pairs "
                "(“1:4 3:5”)."
            ),
            example=example,
        )
    for score in chosen.values():
        if not 0 <= score <= MAX_SCORE:
            raise UserError(N_("Scores go from 0 to 5 (got {score})."), score=score)
    return tuple(f"{answer_id}:{score}" for answer_id, score in chosen.items())


def score_result(answer_ids: Sequence[str], ballots: Sequence[Sequence[str]]) -> ScoreResult:
    """Averages and number of ratings per option from stored selections (``a1:4``)."""
    totals = dict.fromkeys(answer_ids, 0)
    ratings = dict.fromkeys(answer_ids, 0)
    voters = 0
    for selections in ballots:
        counted = False
        for selection in selections:
            answer_id, _, score = selection.partition(":")
            if answer_id in totals and score.isdigit() and 0 <= int(score) <= MAX_SCORE:
                totals[answer_id] += int(score)
                ratings[answer_id] += 1
                counted = True
        voters += counted
    averages = {a: Fraction(totals[a], ratings[a]) if ratings[a] else None for a in answer_ids}
    rated = [a for a in answer_ids if averages[a] is not None]
    best = max(((averages[a], ratings[a]) for a in rated), default=None)
    winners = tuple(a for a in rated if (averages[a], ratings[a]) == best)
    return ScoreResult(averages, ratings, winners, voters)
