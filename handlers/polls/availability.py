"""Meeting-time polls (`!quand`): each slot answered yes, maybe or no in a reply; the best slot.

The rule, as the results state it: the best slot is the one with the most "yes"; on equal
"yes", the most "maybe"; still equal, the earliest. A slot nobody said yes to is never best.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.text.errors import UserError
from bot.text.fields import fold_key
from bot.text.i18n import N_

YES, MAYBE, NO = "yes", "maybe", "no"
# Words people write for each answer (folded: no accents, no capitals).
WORDS = {
    "oui": YES,
    "o": YES,
    "yes": YES,
    "y": YES,
    "peut-etre": MAYBE,
    "peutetre": MAYBE,
    "p": MAYBE,
    "maybe": MAYBE,
    "m": MAYBE,
    "?": MAYBE,
    "non": NO,
    "n": NO,
    "no": NO,
}
_PAIR = re.compile(r"^(\d{1,2}):(.+)$")
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class SlotCount:
    yes: int = 0
    maybe: int = 0
    no: int = 0


@dataclass(frozen=True)
class AvailabilityResult:
    counts: Mapping[str, SlotCount]
    best: str | None
    voters: int


def _answer(word: str) -> str:
    answer = WORDS.get(fold_key(word).replace("’", "'"))
    if answer is None:
        raise UserError(
            N_("“{word}” is not an answer: write oui, peut-être or non (yes, maybe, no)."),
            word=word,
        )
    return answer


def read_availability(text: str, answer_ids: Sequence[str]) -> tuple[str, ...]:
    """``oui non peut-être`` (one answer per slot, in order) or ``1:oui 3:non`` → stored
    selections ``("a1:yes", "a3:no")``. Raises UserError naming what is wrong."""
    joined = re.sub(r"\s*:\s*", ":", text.strip())
    words = [word for word in _SEPARATORS.split(joined) if word]
    example = " ".join(["oui", "non", "peut-être"][n % 3] for n in range(len(answer_ids)))
    if not words:
        raise UserError(N_("Answer each slot, in order, e.g. “{example}”."), example=example)
    chosen: dict[str, str] = {}
    if all(_PAIR.match(word) for word in words):
        for word in words:
            match = _PAIR.match(word)
            assert match is not None
            number = int(match.group(1))
            if not 1 <= number <= len(answer_ids):
                raise UserError(
                    N_("There is no slot {number}: the slots go from 1 to {max}."),
                    number=number,
                    max=len(answer_ids),
                )
            if answer_ids[number - 1] in chosen:
                raise UserError(N_("Slot {number} is answered twice."), number=number)
            chosen[answer_ids[number - 1]] = _answer(match.group(2))
    elif len(words) == len(answer_ids) and not any(_PAIR.match(word) for word in words):
        chosen = {
            answer_id: _answer(word) for answer_id, word in zip(answer_ids, words, strict=True)
        }
    else:
        raise UserError(
            N_(
                "Give one answer per slot, in order (“{example}”), or slot:answer pairs "
                "(“1:oui 3:non”)."
            ),
            example=example,
        )
    return tuple(f"{answer_id}:{answer}" for answer_id, answer in chosen.items())


def availability_result(
    answer_ids: Sequence[str], ballots: Sequence[Sequence[str]]
) -> AvailabilityResult:
    """Yes / maybe / no per slot from stored selections (``a1:yes``), and the best slot."""
    tallies = {answer_id: {YES: 0, MAYBE: 0, NO: 0} for answer_id in answer_ids}
    voters = 0
    for selections in ballots:
        counted = False
        for selection in selections:
            answer_id, _, answer = selection.partition(":")
            if answer_id in tallies and answer in (YES, MAYBE, NO):
                tallies[answer_id][answer] += 1
                counted = True
        voters += counted
    counts = {a: SlotCount(t[YES], t[MAYBE], t[NO]) for a, t in tallies.items()}
    candidates = [a for a in answer_ids if counts[a].yes > 0]
    # slots are stored in time order: on equal yes and maybe, the earliest (first) wins
    best = max(
        candidates,
        key=lambda a: (counts[a].yes, counts[a].maybe, -answer_ids.index(a)),
        default=None,
    )
    return AvailabilityResult(counts, best, voters)
