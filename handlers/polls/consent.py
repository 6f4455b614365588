"""Consent decisions (`!décision`): four answers given by reaction, and the rule that decides.

The rule, as the results state it: a decision is adopted unless an objection stands at the
close. Agreeing, abstaining and disagreeing never block it; an objection does, whatever the
number of people who agree. Someone who objected and then changed their reaction no longer
objects. Votes are counted with the rules of ``handlers.polls.tally`` (latest reaction before
the close counts, a removed reaction withdraws it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.text.errors import UserError
from bot.text.i18n import N_
from handlers.polls.tally import Ballot

AGREE, ABSTAIN, DISAGREE, OBJECT = "agree", "abstain", "disagree", "object"
# In the order they are shown; the emoji is the reaction that casts the answer.
ANSWERS: tuple[tuple[str, str, str], ...] = (
    (AGREE, "✅", N_("agree")),
    (ABSTAIN, "🤷", N_("abstain")),
    (DISAGREE, "👎", N_("disagree")),
    (OBJECT, "✋", N_("objection")),
)
ANSWER_IDS = tuple(answer_id for answer_id, _, _ in ANSWERS)
EMOJI = {answer_id: emoji for answer_id, emoji, _ in ANSWERS}
_BY_EMOJI = {emoji: answer_id for answer_id, emoji, _ in ANSWERS}
# What clients add to an emoji without changing its meaning: variation selectors, skin tones,
# and the joiner + gender sign of 🤷‍♀️ / 🤷‍♂️.
_DECORATIONS = {chr(0xFE0F), chr(0xFE0E), "\u200d", "\u2640", "\u2642"} | {
    chr(code) for code in range(0x1F3FB, 0x1F400)
}

Outcome = Literal["adopted", "blocked", "no_votes"]


def consent_answer(key: str) -> str | None:
    """The answer a reaction gives (``✋🏽`` → ``object``), or None for any other reaction."""
    bare = "".join(ch for ch in key if ch not in _DECORATIONS)
    return _BY_EMOJI.get(bare)


def consent_ballot(voter: str, ts: int, event_id: str, key: str) -> Ballot | None:
    """The ballot a reaction on a decision casts, or None if it is not one of the four."""
    answer_id = consent_answer(key)
    if answer_id is None:
        return None
    return Ballot(voter, ts, event_id, (answer_id,), source="reaction")


@dataclass(frozen=True)
class Objection:
    voter: str
    reason: str | None  # their latest reply to the decision before the close, if any


@dataclass(frozen=True)
class ConsentResult:
    counts: Mapping[str, int]
    voters: int
    objections: tuple[Objection, ...]

    @property
    def outcome(self) -> Outcome:
        if self.objections:
            return "blocked"
        return "adopted" if self.voters else "no_votes"


def consent_result(
    choices: Mapping[str, Sequence[str]], reasons: Iterable[tuple[str, int, str]]
) -> ConsentResult:
    """Apply the rule to each voter's counted answer (``valid_choices``) and their replies
    ``(voter, ts, text)``: objections keep their author's latest reply, in voting order."""
    counts = dict.fromkeys(ANSWER_IDS, 0)
    for selections in choices.values():
        for answer_id in selections:
            counts[answer_id] += 1
    latest: dict[str, tuple[int, str]] = {}
    for voter, ts, text in reasons:
        if voter not in latest or ts >= latest[voter][0]:
            latest[voter] = (ts, text)
    objections = tuple(
        Objection(voter, latest[voter][1] if voter in latest else None)
        for voter in sorted(choices)
        if OBJECT in choices[voter]
    )
    return ConsentResult(counts=counts, voters=len(choices), objections=objections)


# How an answer is written in an anonymous ballot (folded: no accents, no capitals, ' for ’).
ANSWER_WORDS = {
    "d'accord": AGREE,
    "daccord": AGREE,
    "accord": AGREE,
    "agree": AGREE,
    "abstention": ABSTAIN,
    "abstain": ABSTAIN,
    "pas d'accord": DISAGREE,
    "disagree": DISAGREE,
    "objection": OBJECT,
    "object": OBJECT,
}


def read_consent(text: str, fold: Callable[[str], str]) -> tuple[str, ...]:
    """``d'accord``, ``abstention``, ``pas d'accord`` or ``objection <raison>`` → the stored
    selections: the answer, and for an objection its reason if given."""
    words = text.split()
    for length in (2, 1):
        answer = ANSWER_WORDS.get(fold(" ".join(words[:length])))
        if answer is not None:
            reason = " ".join(words[length:])
            if answer == OBJECT and reason:
                return (OBJECT, reason[:1000])
            return (answer,)
    raise UserError(
        N_("Answer with d'accord, abstention, pas d'accord or objection followed by your reason.")
    )


def anonymous_consent_result(ballots: Iterable[Sequence[str]]) -> ConsentResult:
    """The rule applied to anonymous answers: objections listed by their reasons only."""
    counts = dict.fromkeys(ANSWER_IDS, 0)
    objections = []
    voters = 0
    for selections in ballots:
        if not selections or selections[0] not in counts:
            continue
        voters += 1
        counts[selections[0]] += 1
        if selections[0] == OBJECT:
            objections.append(Objection("", selections[1] if len(selections) > 1 else None))
    return ConsentResult(counts=counts, voters=voters, objections=tuple(objections))
