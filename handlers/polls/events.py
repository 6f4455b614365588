"""Native Matrix poll events (MSC3381): build what the bot sends, read what anyone sends.

The bot sends only the unstable ``org.matrix.msc3381.*`` shapes, which Element renders; stable
``m.poll.*`` events may only be sent in rooms with extensible events, which no stable room
version has. When reading, both shapes are accepted because other clients may send either.
Readers never raise: event content is untrusted, so anything unreadable becomes ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard

UNSTABLE_START = "org.matrix.msc3381.poll.start"
UNSTABLE_RESPONSE = "org.matrix.msc3381.poll.response"
UNSTABLE_END = "org.matrix.msc3381.poll.end"
UNSTABLE_TEXT = "org.matrix.msc1767.text"
UNSTABLE_DISCLOSED = "org.matrix.msc3381.poll.disclosed"
STABLE_POLL = "m.poll"
STABLE_DISCLOSED = "m.disclosed"

POLL_START_TYPES = frozenset({UNSTABLE_START, "m.poll.start"})
POLL_RESPONSE_TYPES = frozenset({UNSTABLE_RESPONSE, "m.poll.response"})
POLL_END_TYPES = frozenset({UNSTABLE_END, "m.poll.end"})

MIN_ANSWERS = 2
MAX_ANSWERS = 20  # MSC3381 truncates answers to 20; clients reject more
MAX_ANSWER_LENGTH = 200
# A response listing more entries than this is unreadable: no poll has that many answers.
MAX_READ_SELECTIONS = 100

KEYCAP = "\u20e3"
VARIATION_SELECTOR = "\ufe0f"
KEYCAP_TEN = "\U0001f51f"
NUMBER_EMOJI = (*(f"{digit}{VARIATION_SELECTOR}{KEYCAP}" for digit in "123456789"), KEYCAP_TEN)


@dataclass(frozen=True)
class PollDefinition:
    """A poll as read from its start event: what is asked and which answers can be chosen."""

    event_id: str
    sender: str
    ts: int
    question: str
    answers: tuple[tuple[str, str], ...]  # (answer id, answer text), in display order
    max_selections: int
    disclosed: bool

    @property
    def answer_ids(self) -> tuple[str, ...]:
        """The answer ids in display order (the order number-emoji votes refer to)."""
        return tuple(answer_id for answer_id, _ in self.answers)


@dataclass(frozen=True)
class Response:
    """One vote event, before any tally rule is applied.

    ``malformed`` marks a response whose selections cannot be read (not a list, non-string
    entries, absurdly long): it still is the sender's latest word, so the tally spoils it.
    """

    poll_event_id: str
    event_id: str
    sender: str
    ts: int
    selections: tuple[str, ...]
    malformed: bool = False


@dataclass(frozen=True)
class EndMarker:
    """A poll end event; whether its sender may end the poll is for the caller to decide."""

    poll_event_id: str
    event_id: str
    sender: str
    ts: int


def build_poll_start(
    question: str, answers: list[str], max_selections: int, *, disclosed: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """Content of an unstable poll start event as Element sends it, and its answer ids.

    Answer ids are short and stable (``a1`` … ``a20``) so stored votes stay readable.
    Raises ``ValueError`` on arguments the command parser should already have refused.
    """
    _check_poll_arguments(question, answers, max_selections)
    answer_ids = [f"a{number}" for number in range(1, len(answers) + 1)]
    fallback = "\n".join(
        [question, *(f"{number}. {text}" for number, text in enumerate(answers, start=1))]
    )
    kind = UNSTABLE_DISCLOSED if disclosed else "org.matrix.msc3381.poll.undisclosed"
    content: dict[str, Any] = {
        UNSTABLE_TEXT: fallback,
        UNSTABLE_START: {
            "kind": kind,
            "max_selections": max_selections,
            "question": {UNSTABLE_TEXT: question},
            "answers": [
                {"id": answer_id, UNSTABLE_TEXT: text}
                for answer_id, text in zip(answer_ids, answers, strict=True)
            ],
        },
        "m.mentions": {},
    }
    return content, answer_ids


def _check_poll_arguments(question: str, answers: list[str], max_selections: int) -> None:
    """Refuse programming errors early: a malformed poll would be rejected by clients."""
    if not question.strip():
        raise ValueError("a poll needs a question")
    if not MIN_ANSWERS <= len(answers) <= MAX_ANSWERS:
        raise ValueError(f"a poll needs {MIN_ANSWERS} to {MAX_ANSWERS} answers")
    if any(not text.strip() for text in answers):
        raise ValueError("poll answers must not be empty")
    if isinstance(max_selections, bool) or not 1 <= max_selections <= len(answers):
        raise ValueError("max_selections must be between 1 and the number of answers")


def build_poll_end(poll_event_id: str, summary_text: str) -> dict[str, Any]:
    """Content of an unstable poll end event closing ``poll_event_id``, with a text fallback."""
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        UNSTABLE_TEXT: summary_text,
        UNSTABLE_END: {},
        "m.mentions": {},
    }


def parse_poll_start(event: dict[str, Any]) -> PollDefinition | None:
    """Read a poll start event (unstable or stable shape); ``None`` if it is not a usable poll.

    Unreadable or duplicate answers are skipped; answers beyond 20 are dropped (MSC3381);
    ``max_selections`` defaults to 1 and is clamped to the number of answers.
    """
    envelope = _envelope(event, POLL_START_TYPES)
    if envelope is None:
        return None
    content, sender, event_id, ts = envelope
    block = _poll_block(content, stable_first=event.get("type") != UNSTABLE_START)
    if block is None:
        return None
    question = _text(block.get("question"))
    answers = _answers(block.get("answers"))
    if question is None or not answers:
        return None
    return PollDefinition(
        event_id=event_id,
        sender=sender,
        ts=ts,
        question=question,
        answers=answers,
        max_selections=_max_selections(block.get("max_selections"), len(answers)),
        disclosed=block.get("kind") in (UNSTABLE_DISCLOSED, STABLE_DISCLOSED),
    )


def parse_poll_response(event: dict[str, Any]) -> Response | None:
    """Read a poll response event (unstable or stable shape).

    ``None`` when the vote cannot be attributed (wrong type, no sender, timestamp or
    reference to a poll): a redacted response loses its relation, so the sender's previous
    vote stands, as MSC3381 says. Unreadable selections give a ``malformed`` response.
    """
    envelope = _envelope(event, POLL_RESPONSE_TYPES)
    if envelope is None:
        return None
    content, sender, event_id, ts = envelope
    poll_event_id = _reference(content)
    if poll_event_id is None:
        return None
    raw = _raw_selections(content, stable_first=event.get("type") != UNSTABLE_RESPONSE)
    selections = _selections(raw)
    return Response(
        poll_event_id=poll_event_id,
        event_id=event_id,
        sender=sender,
        ts=ts,
        selections=selections or (),
        malformed=selections is None,
    )


def parse_poll_end(event: dict[str, Any]) -> EndMarker | None:
    """Read a poll end event (unstable or stable shape); ``None`` if it ends no poll."""
    envelope = _envelope(event, POLL_END_TYPES)
    if envelope is None:
        return None
    content, sender, event_id, ts = envelope
    poll_event_id = _reference(content)
    if poll_event_id is None:
        return None
    return EndMarker(poll_event_id=poll_event_id, event_id=event_id, sender=sender, ts=ts)


def first_valid_end(
    ends: Iterable[EndMarker], may_end: Callable[[EndMarker], bool]
) -> EndMarker | None:
    """The poll's real end: the earliest end whose sender may end it (MSC3381).

    ``may_end`` says whether the sender is the poll's creator or may redact others' events.
    """
    valid = [end for end in ends if may_end(end)]
    return min(valid, key=lambda end: (end.ts, end.event_id)) if valid else None


def reaction_vote(key: str) -> int | None:
    """Answer index (0–9) voted by a number-emoji reaction 1️⃣…🔟, or ``None``.

    The variation selector U+FE0F is optional (clients differ); plain digits are not votes.
    """
    if not isinstance(key, str):
        return None
    compact = key.replace(VARIATION_SELECTOR, "")
    if compact == KEYCAP_TEN:
        return 9
    if len(compact) == 2 and compact[1] == KEYCAP and compact[0] in "123456789":
        return int(compact[0]) - 1
    return None


def vote_emoji(index: int) -> str | None:
    """The number emoji that votes for answer ``index`` (0–9), or ``None`` past 🔟."""
    return NUMBER_EMOJI[index] if 0 <= index < len(NUMBER_EMOJI) else None


def _envelope(event: object, types: frozenset[str]) -> tuple[dict[str, Any], str, str, int] | None:
    """The content, sender, event id and timestamp of an event of one of ``types``."""
    if not isinstance(event, dict):
        return None
    event_type = event.get("type")
    if not isinstance(event_type, str) or event_type not in types:
        return None
    content = event.get("content")
    sender = event.get("sender")
    event_id = event.get("event_id")
    ts = event.get("origin_server_ts")
    if not isinstance(content, dict) or not _is_id(sender) or not _is_id(event_id):
        return None
    if not isinstance(ts, int) or isinstance(ts, bool):
        return None
    return content, sender, event_id, ts


def _is_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` can be an event, user or answer id: a non-empty string."""
    return isinstance(value, str) and value != ""


def _reference(content: dict[str, Any]) -> str | None:
    """The event id a ``m.reference`` relation points to."""
    relation = content.get("m.relates_to")
    if not isinstance(relation, dict) or relation.get("rel_type") != "m.reference":
        return None
    target = relation.get("event_id")
    return target if isinstance(target, str) and target else None


def _poll_block(content: dict[str, Any], *, stable_first: bool) -> dict[str, Any] | None:
    """The poll description block, preferring the shape that matches the event type."""
    keys = (STABLE_POLL, UNSTABLE_START) if stable_first else (UNSTABLE_START, STABLE_POLL)
    for key in keys:
        block = content.get(key)
        if isinstance(block, dict):
            return block
    return None


def _text(block: object) -> str | None:
    """Plain text of a block: unstable string, stable ``m.text`` list, or a bare ``body``."""
    if not isinstance(block, dict):
        return None
    for key in (UNSTABLE_TEXT, "m.text"):
        text = _text_value(block.get(key))
        if text is not None:
            return text
    body = block.get("body")
    return body if isinstance(body, str) else None


def _text_value(value: object) -> str | None:
    """A string, or the plain-text (else first) body of an MSC1767 representation list."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return None
    bodies = [
        item for item in value if isinstance(item, dict) and isinstance(item.get("body"), str)
    ]
    for item in bodies:
        if item.get("mimetype") in (None, "text/plain"):
            return str(item["body"])
    return str(bodies[0]["body"]) if bodies else None


def _answers(raw: object) -> tuple[tuple[str, str], ...]:
    """Readable answers with distinct ids, from at most the first 20 entries."""
    if not isinstance(raw, list):
        return ()
    answers: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in raw[:MAX_ANSWERS]:
        if not isinstance(item, dict):
            continue
        answer_id = item.get("id", item.get("m.id"))
        text = _text(item)
        if not _is_id(answer_id) or text is None or answer_id in seen:
            continue
        seen.add(answer_id)
        answers.append((answer_id, text))
    return tuple(answers)


def _max_selections(raw: object, answer_count: int) -> int:
    """``max_selections`` as MSC3381 means it: an integer ≥ 1, defaulting to 1."""
    if not isinstance(raw, int) or isinstance(raw, bool):
        return 1
    return max(1, min(raw, answer_count))


def _raw_selections(content: dict[str, Any], *, stable_first: bool) -> object:
    """The selections list in either shape, preferring the one that matches the event type."""
    block = content.get(UNSTABLE_RESPONSE)
    unstable = block.get("answers") if isinstance(block, dict) else None
    stable = content.get("m.selections")
    first, second = (stable, unstable) if stable_first else (unstable, stable)
    return first if first is not None else second


def _selections(raw: object) -> tuple[str, ...] | None:
    """The selected answer ids, or ``None`` when the list cannot be read."""
    if not isinstance(raw, list) or len(raw) > MAX_READ_SELECTIONS:
        return None
    if not all(isinstance(item, str) for item in raw):
        return None
    return tuple(raw)
