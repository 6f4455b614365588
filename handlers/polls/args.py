"""Reading `!sondage` and `!décision` arguments and poll IDs (`S2`), with a precise refusal
for each mistake.

Kept apart from the handlers so the rules (how many answers, which fields, what counts as the
same answer twice) can be read and tested on their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.runtime.router import fold
from bot.text.dates import parse_when
from bot.text.errors import UserError
from bot.text.fields import MSG_UNKNOWN_KEY, FieldError, fold_key, split_fields
from bot.text.i18n import N_, Message
from handlers.polls.events import MAX_ANSWER_LENGTH, MAX_ANSWERS, MIN_ANSWERS

MAX_QUESTION_LENGTH = 500
POLL_OPTIONS = frozenset({"end", "choices", "quorum", "results", "type", "anonymous"})
YES_WORDS = frozenset({"oui", "yes", "o", "y"})
NO_WORDS = frozenset({"non", "no", "n"})
# What people write after ``type:`` (folded) → the poll's kind.
POLL_KINDS = {
    "choix": "choice",
    "choice": "choice",
    "notes": "score",
    "note": "score",
    "score": "score",
    "scores": "score",
    "classement": "ranked",
    "ranked": "ranked",
    "ranking": "ranked",
}
QUORUM_PATTERN = re.compile(r"^(\d{1,3})\s*%?$")
# How people say when results are shown (folded: no accents, no capitals).
RESULTS_AT_THE_END = frozenset(
    {"a la fin", "a la cloture", "fin", "cloture", "at the end", "at the close", "end", "close"}
)
RESULTS_LIVE = frozenset({"en direct", "direct", "toujours", "live", "always"})
EXAMPLE = "!sondage Quel jour pour l'atelier ? ; mardi ; jeudi ; fin: vendredi 18h"
ID_PATTERN = re.compile(r"^[sS]?(\d{1,9})$")
MSG_UNKNOWN_KEY_OR_ANSWER = N_(
    "Unknown field “{key}”. Valid fields here: {keys}. "
    "If it is an answer, write it without the colon, e.g. “{example}”."
)


@dataclass(frozen=True)
class PollRequest:
    """A valid `!sondage` command: what to ask, the answers, how many choices, when it ends."""

    question: str
    answers: tuple[str, ...]
    max_selections: int
    closes_at: datetime | None
    quorum: int | None = None  # percent of the room's members who must answer
    hide_results: bool = False  # results shown at the close only
    kind: str = "choice"  # choice | score | ranked
    anonymous: bool = False  # ballots by direct message, results without names

    def settings(self) -> dict[str, object]:
        """The options kept with the poll (``Poll.settings``)."""
        chosen: dict[str, object] = {}
        if self.quorum is not None:
            chosen["quorum"] = self.quorum
        if self.hide_results:
            chosen["results"] = "end"
        if self.anonymous:
            chosen["anonymous"] = True
        return chosen


def read_fields(text: str, allowed: frozenset[str]) -> tuple[list[str], dict[str, str]]:
    """Split poll arguments; a later ``key: value`` field whose key is not one of ``allowed``
    is refused (``fni: demain`` must not become an answer), saying how to keep it as one."""
    try:
        return split_fields(text, allowed)
    except FieldError as error:
        if error.message.msgid != MSG_UNKNOWN_KEY:
            raise
        key = str(error.message.params["key"])
        later = [f.strip() for f in re.split(r"[;\n]", text)][1:]
        field = next((f for f in later if f.startswith(key)), key)
        without_colon = " ".join(field.replace(":", " ", 1).split())
        raise FieldError(
            Message(MSG_UNKNOWN_KEY_OR_ANSWER, {**error.message.params, "example": without_colon})
        ) from None


def _same_answer_key(text: str) -> str:
    """Case-, accent- and space-insensitive form: duplicate answers are compared so."""
    return " ".join(fold(text).split())


def _check_question_length(question: str) -> None:
    if len(question) > MAX_QUESTION_LENGTH:
        raise UserError(
            N_("The question is too long: at most {max} characters."), max=MAX_QUESTION_LENGTH
        )


def _check_not_too_many_options(count: int) -> None:
    if count > MAX_ANSWERS:
        raise UserError(
            N_("A poll can have at most {max} options (got {count})."), max=MAX_ANSWERS, count=count
        )


def _read_end(
    options: dict[str, str], *, now: datetime, tz: ZoneInfo, language: str
) -> datetime | None:
    """The `end:` option read by the date grammar; None without one."""
    return (
        parse_when(options["end"], now=now, tz=tz, language=language) if "end" in options else None
    )


def parse_poll_request(text: str, *, now: datetime, tz: ZoneInfo, language: str) -> PollRequest:
    """Read `!sondage` arguments; raise UserError (or DateError) with a precise reason."""
    positional, options = read_fields(text, POLL_OPTIONS)
    if not positional:
        raise UserError(
            N_("Give a question and at least two options separated by “;”, e.g. {example}"),
            example=EXAMPLE,
        )
    question, answers = positional[0], positional[1:]
    _check_question_length(question)
    if len(answers) < MIN_ANSWERS:
        raise UserError(
            N_(
                "A poll needs at least {min} options separated by “;” (got {count}), e.g. {example}"
            ),
            min=MIN_ANSWERS,
            count=len(answers),
            example=EXAMPLE,
        )
    _check_not_too_many_options(len(answers))
    seen: dict[str, str] = {}
    for answer in answers:
        if len(answer) > MAX_ANSWER_LENGTH:
            raise UserError(
                N_("The option “{option}…” is too long: at most {max} characters."),
                option=answer[:30],
                max=MAX_ANSWER_LENGTH,
            )
        key = _same_answer_key(answer)
        if key in seen:
            raise UserError(
                N_("The option “{option}” is given twice (as “{first}” and “{second}”)."),
                option=answer,
                first=seen[key],
                second=answer,
            )
        seen[key] = answer
    kind = read_kind(options["type"]) if "type" in options else "choice"
    anonymous = read_yes_no(options["anonymous"]) if "anonymous" in options else False
    if kind != "choice":
        _refuse_for_replies(options)
    max_selections = 1
    if "choices" in options:
        value = options["choices"]
        if not value.isdigit() or not 1 <= int(value) <= len(answers):
            raise UserError(
                N_(
                    "The number of choices “{value}” is not valid: give a number from 1 to "
                    "{max} (the number of options)."
                ),
                value=value,
                max=len(answers),
            )
        max_selections = int(value)
    closes_at = _read_end(options, now=now, tz=tz, language=language)
    return PollRequest(
        question,
        tuple(answers),
        max_selections,
        closes_at,
        quorum=read_quorum(options["quorum"]) if "quorum" in options else None,
        hide_results=read_results(options["results"]) if "results" in options else False,
        kind=kind,
        anonymous=anonymous,
    )


def read_yes_no(value: str) -> bool:
    """``oui`` / ``non`` (``yes`` / ``no``); else a UserError."""
    folded = fold_key(value.strip())
    if folded in YES_WORDS:
        return True
    if folded in NO_WORDS:
        return False
    raise UserError(
        N_("“{value}” is not yes or no: write {yes} or {no}."),
        value=value,
        yes="anonyme: oui",
        no="anonyme: non",
    )


def read_kind(value: str) -> str:
    """``notes`` → score, ``classement`` → ranked, ``choix`` → choice; else a UserError."""
    kind = POLL_KINDS.get(" ".join(fold_key(value).split()))
    if kind is None:
        raise UserError(
            N_("“{value}” is not a kind of poll: write {kinds}."),
            value=value,
            kinds="type: notes (score), type: classement (ranked)",
        )
    return kind


def _refuse_for_replies(options: dict[str, str]) -> None:
    """Score and ranked polls are answered by replies: one ballot each, seen by the room."""
    if "choices" in options:
        raise UserError(
            N_("“choices:” is for polls where people pick answers, not with “type:”."),
        )
    if "results" in options and read_results(options["results"]):
        raise UserError(
            N_(
                "Score and ranked polls are answered by replies, which everyone in the room "
                "sees: their results cannot be hidden until the close."
            )
        )


def read_quorum(value: str) -> int:
    """``50%``, ``50 %`` or ``50`` → 50; a share from 1 to 100, else a UserError."""
    match = QUORUM_PATTERN.match(value.strip())
    if match is None or not 1 <= int(match.group(1)) <= 100:
        raise UserError(
            N_(
                "The quorum “{value}” is not valid: give the share of the room's members who "
                "must answer, from 1% to 100%, e.g. {example}."
            ),
            value=value,
            example="quorum: 50%",
        )
    return int(match.group(1))


def read_results(value: str) -> bool:
    """Whether results are hidden until the close: ``à la fin`` yes, ``en direct`` no."""
    folded = " ".join(fold_key(value).split())
    if folded in RESULTS_AT_THE_END:
        return True
    if folded in RESULTS_LIVE:
        return False
    raise UserError(
        N_("“{value}” is not a choice for the results: write {hidden} or {live}."),
        value=value,
        hidden="résultats: à la fin",
        live="résultats: en direct",
    )


DECISION_OPTIONS = frozenset({"end", "quorum", "results", "anonymous"})
DECISION_EXAMPLE = "!décision On adopte la charte du collectif ; fin: vendredi 18h"


@dataclass(frozen=True)
class DecisionRequest:
    """A valid `!décision` command: the text to consent to, and when the vote ends."""

    text: str
    closes_at: datetime | None
    quorum: int | None = None
    anonymous: bool = False  # answers and reasons by direct message, results without names

    def settings(self) -> dict[str, object]:
        chosen: dict[str, object] = {} if self.quorum is None else {"quorum": self.quorum}
        if self.anonymous:
            chosen["anonymous"] = True
        return chosen


def parse_decision_request(
    text: str, *, now: datetime, tz: ZoneInfo, language: str
) -> DecisionRequest:
    """Read `!décision` arguments: one text, then options; raise UserError with the reason."""
    positional, options = read_fields(text, DECISION_OPTIONS)
    if not positional:
        raise UserError(N_("Write the decision to take, e.g. {example}"), example=DECISION_EXAMPLE)
    if len(positional) > 1:
        raise UserError(
            N_(
                "A decision is one text, then its options: “{extra}” is neither. "
                "Write the text without “;”, e.g. {example}"
            ),
            extra=positional[1],
            example=DECISION_EXAMPLE,
        )
    if len(positional[0]) > MAX_QUESTION_LENGTH:
        raise UserError(
            N_("The decision is too long: at most {max} characters."), max=MAX_QUESTION_LENGTH
        )
    if "results" in options and read_results(options["results"]):
        raise UserError(
            N_(
                "A decision is voted with reactions, which everyone in the room sees: its "
                "results cannot be hidden until the close. For a count shown at the close, "
                "start a poll: {example}"
            ),
            example="!sondage … ; pour ; contre ; résultats: à la fin",
        )
    closes_at = _read_end(options, now=now, tz=tz, language=language)
    quorum = read_quorum(options["quorum"]) if "quorum" in options else None
    anonymous = read_yes_no(options["anonymous"]) if "anonymous" in options else False
    return DecisionRequest(positional[0], closes_at, quorum, anonymous)


WHEN_OPTIONS = frozenset({"end", "quorum", "anonymous"})
WHEN_EXAMPLE = "!quand Prochaine plénière ; mardi 18h ; jeudi 18h30 ; fin: vendredi 12h"


@dataclass(frozen=True)
class WhenRequest:
    """A valid `!quand` command: the subject, its slots (UTC, in time order), options."""

    subject: str
    slots: tuple[datetime, ...]
    closes_at: datetime | None
    quorum: int | None = None
    anonymous: bool = False  # answers by direct message, results without names

    def settings(self) -> dict[str, object]:
        """The slots (the agenda's `!événement depuis S4` reads them) and the options."""
        chosen: dict[str, object] = {"slots": [slot.isoformat() for slot in self.slots]}
        if self.quorum is not None:
            chosen["quorum"] = self.quorum
        if self.anonymous:
            chosen["anonymous"] = True
        return chosen


def parse_when_request(text: str, *, now: datetime, tz: ZoneInfo, language: str) -> WhenRequest:
    """Read `!quand` arguments: a subject, then slots read by the date grammar; a slot that
    cannot be read is refused with the date grammar's own explanation."""
    positional, options = read_fields(text, WHEN_OPTIONS)
    if len(positional) < 1 + MIN_ANSWERS:
        raise UserError(
            N_("Give a subject and at least two slots separated by “;”, e.g. {example}"),
            example=WHEN_EXAMPLE,
        )
    subject, slot_texts = positional[0], positional[1:]
    _check_question_length(subject)
    _check_not_too_many_options(len(slot_texts))
    slots: dict[datetime, str] = {}
    for slot_text in slot_texts:
        moment = parse_when(slot_text, now=now, tz=tz, language=language)
        if moment in slots:
            raise UserError(
                N_("The slots “{first}” and “{second}” are the same moment."),
                first=slots[moment],
                second=slot_text,
            )
        slots[moment] = slot_text
    closes_at = _read_end(options, now=now, tz=tz, language=language)
    quorum = read_quorum(options["quorum"]) if "quorum" in options else None
    anonymous = read_yes_no(options["anonymous"]) if "anonymous" in options else False
    return WhenRequest(subject, tuple(sorted(slots)), closes_at, quorum, anonymous)


def parse_poll_id(text: str) -> int:
    """`S2`, `s2` or `2` → 2; anything else is a UserError with an example."""
    match = ID_PATTERN.match(text.strip())
    if not match:
        raise UserError(N_("Give the poll's ID, e.g. {example}."), example="!clore S2")
    return int(match.group(1))
