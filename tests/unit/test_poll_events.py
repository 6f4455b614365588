"""MSC3381 poll events: the content the bot sends and the reading of what anyone sends."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.polls.events import (
    NUMBER_EMOJI,
    POLL_END_TYPES,
    POLL_RESPONSE_TYPES,
    POLL_START_TYPES,
    EndMarker,
    PollDefinition,
    Response,
    build_poll_end,
    build_poll_start,
    first_valid_end,
    parse_poll_end,
    parse_poll_response,
    parse_poll_start,
    reaction_vote,
    vote_emoji,
)

POLL = "$poll"


def event(event_type: str, content: Any, **envelope: Any) -> dict[str, Any]:
    """A timeline event as the homeserver serves it."""
    base = {
        "type": event_type,
        "sender": "@alice:example.org",
        "event_id": "$ev",
        "origin_server_ts": 1000,
        "content": content,
    }
    base.update(envelope)
    return base


def unstable_start(**overrides: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "kind": "org.matrix.msc3381.poll.disclosed",
        "max_selections": 1,
        "question": {"org.matrix.msc1767.text": "Quel jour ?"},
        "answers": [
            {"id": "mar", "org.matrix.msc1767.text": "Mardi"},
            {"id": "jeu", "org.matrix.msc1767.text": "Jeudi"},
        ],
    }
    block.update(overrides)
    content = {
        "org.matrix.msc1767.text": "Quel jour ?\n1. Mardi\n2. Jeudi",
        "org.matrix.msc3381.poll.start": block,
    }
    return event("org.matrix.msc3381.poll.start", content, event_id=POLL)


def stable_start(**overrides: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "kind": "m.disclosed",
        "max_selections": 2,
        "question": {"m.text": [{"body": "What should we order?"}]},
        "answers": [
            {"m.id": "pizza", "m.text": [{"body": "Pizza"}]},
            {"m.id": "poutine", "m.text": [{"mimetype": "text/plain", "body": "Poutine"}]},
            {"m.id": "wings", "m.text": [{"mimetype": "text/html", "body": "<b>Wings</b>"}]},
        ],
    }
    block.update(overrides)
    content = {"m.text": [{"body": "What should we order?\n1. Pizza"}], "m.poll": block}
    return event("m.poll.start", content, event_id=POLL)


def unstable_response(answers: Any, **envelope: Any) -> dict[str, Any]:
    content = {
        "m.relates_to": {"rel_type": "m.reference", "event_id": POLL},
        "org.matrix.msc3381.poll.response": {"answers": answers},
    }
    return event("org.matrix.msc3381.poll.response", content, **envelope)


def stable_response(selections: Any, **envelope: Any) -> dict[str, Any]:
    content = {
        "m.relates_to": {"rel_type": "m.reference", "event_id": POLL},
        "m.selections": selections,
    }
    return event("m.poll.response", content, **envelope)


# --- building -------------------------------------------------------------------------------


def test_build_poll_start_matches_element_shape() -> None:
    content, ids = build_poll_start("Quel jour pour l'atelier ?", ["Mardi", "Jeudi"], 1)
    assert ids == ["a1", "a2"]
    assert content == {
        "org.matrix.msc1767.text": "Quel jour pour l'atelier ?\n1. Mardi\n2. Jeudi",
        "org.matrix.msc3381.poll.start": {
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 1,
            "question": {"org.matrix.msc1767.text": "Quel jour pour l'atelier ?"},
            "answers": [
                {"id": "a1", "org.matrix.msc1767.text": "Mardi"},
                {"id": "a2", "org.matrix.msc1767.text": "Jeudi"},
            ],
        },
        "m.mentions": {},
    }


def test_build_poll_start_undisclosed_kind_and_twenty_ids() -> None:
    answers = [f"Option {n}" for n in range(1, 21)]
    content, ids = build_poll_start("Q", answers, 3, disclosed=False)
    block = content["org.matrix.msc3381.poll.start"]
    assert block["kind"] == "org.matrix.msc3381.poll.undisclosed"
    assert ids == [f"a{n}" for n in range(1, 21)]
    assert [answer["id"] for answer in block["answers"]] == ids
    assert content["org.matrix.msc1767.text"].splitlines()[-1] == "20. Option 20"


def test_build_poll_start_has_no_floats_and_is_json() -> None:
    content, _ = build_poll_start("Q ?", ["a", "b", "c"], 2)
    text = json.dumps(content, ensure_ascii=False)
    assert json.loads(text) == content
    assert "." not in json.dumps(content["org.matrix.msc3381.poll.start"]["max_selections"])


@pytest.mark.parametrize(
    ("question", "answers", "max_selections"),
    [
        ("", ["a", "b"], 1),
        ("Q", ["a"], 1),
        ("Q", [f"{n}" for n in range(21)], 1),
        ("Q", ["a", " "], 1),
        ("Q", ["a", "b"], 0),
        ("Q", ["a", "b"], 3),
        ("Q", ["a", "b"], True),
    ],
)
def test_build_poll_start_refuses_invalid_arguments(
    question: str, answers: list[str], max_selections: int
) -> None:
    with pytest.raises(ValueError):
        build_poll_start(question, answers, max_selections)


def test_build_poll_start_round_trips_through_parse() -> None:
    content, ids = build_poll_start("Q ?", ["Oui", "Non", "Peut-être"], 2, disclosed=False)
    poll = parse_poll_start(event("org.matrix.msc3381.poll.start", content, event_id=POLL))
    assert poll == PollDefinition(
        event_id=POLL,
        sender="@alice:example.org",
        ts=1000,
        question="Q ?",
        answers=tuple(zip(ids, ["Oui", "Non", "Peut-être"], strict=True)),
        max_selections=2,
        disclosed=False,
    )


def test_build_poll_end_references_poll_with_fallback() -> None:
    content = build_poll_end(POLL, "Sondage terminé. Réponse gagnante : Jeudi")
    assert content == {
        "m.relates_to": {"rel_type": "m.reference", "event_id": POLL},
        "org.matrix.msc1767.text": "Sondage terminé. Réponse gagnante : Jeudi",
        "org.matrix.msc3381.poll.end": {},
        "m.mentions": {},
    }
    assert parse_poll_end(event("org.matrix.msc3381.poll.end", content)) == EndMarker(
        POLL, "$ev", "@alice:example.org", 1000
    )


def test_poll_types_include_unstable_and_stable_names() -> None:
    assert {"org.matrix.msc3381.poll.start", "m.poll.start"} <= POLL_START_TYPES
    assert {"org.matrix.msc3381.poll.response", "m.poll.response"} <= POLL_RESPONSE_TYPES
    assert {"org.matrix.msc3381.poll.end", "m.poll.end"} <= POLL_END_TYPES


# --- reading poll starts --------------------------------------------------------------------


def test_parse_poll_start_unstable() -> None:
    poll = parse_poll_start(unstable_start())
    assert poll is not None
    assert poll.question == "Quel jour ?"
    assert poll.answers == (("mar", "Mardi"), ("jeu", "Jeudi"))
    assert poll.answer_ids == ("mar", "jeu")
    assert poll.max_selections == 1
    assert poll.disclosed is True
    assert (poll.event_id, poll.sender, poll.ts) == (POLL, "@alice:example.org", 1000)


def test_parse_poll_start_stable_prefers_plain_text() -> None:
    poll = parse_poll_start(stable_start())
    assert poll is not None
    assert poll.question == "What should we order?"
    assert poll.answers == (("pizza", "Pizza"), ("poutine", "Poutine"), ("wings", "<b>Wings</b>"))
    assert poll.max_selections == 2
    assert poll.disclosed is True


@pytest.mark.parametrize(
    ("kind", "disclosed"),
    [
        ("org.matrix.msc3381.poll.undisclosed", False),
        ("m.undisclosed", False),
        ("m.disclosed", True),
        ("com.example.custom", False),
        (None, False),
        (42, False),
    ],
)
def test_parse_poll_start_unknown_kind_is_undisclosed(kind: Any, disclosed: bool) -> None:
    poll = parse_poll_start(unstable_start(kind=kind))
    assert poll is not None
    assert poll.disclosed is disclosed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1, 1), (2, 2), (0, 1), (-5, 1), (99, 2), (None, 1), ("2", 1), (2.0, 1), (True, 1)],
)
def test_parse_poll_start_clamps_max_selections(raw: Any, expected: int) -> None:
    poll = parse_poll_start(unstable_start(max_selections=raw))
    assert poll is not None
    assert poll.max_selections == expected


def test_parse_poll_start_missing_max_selections_defaults_to_one() -> None:
    start = unstable_start()
    del start["content"]["org.matrix.msc3381.poll.start"]["max_selections"]
    poll = parse_poll_start(start)
    assert poll is not None
    assert poll.max_selections == 1


def test_parse_poll_start_skips_bad_and_duplicate_answers() -> None:
    answers = [
        {"id": "a", "org.matrix.msc1767.text": "A"},
        {"id": "a", "org.matrix.msc1767.text": "A again"},
        {"id": 3, "org.matrix.msc1767.text": "number id"},
        {"id": "", "org.matrix.msc1767.text": "empty id"},
        {"id": "no-text"},
        "not an answer",
        {"id": "b", "org.matrix.msc1767.text": "B"},
    ]
    poll = parse_poll_start(unstable_start(answers=answers))
    assert poll is not None
    assert poll.answers == (("a", "A"), ("b", "B"))


def test_parse_poll_start_truncates_to_twenty_answers() -> None:
    answers = [{"id": f"x{n}", "org.matrix.msc1767.text": f"{n}"} for n in range(30)]
    poll = parse_poll_start(unstable_start(answers=answers, max_selections=25))
    assert poll is not None
    assert len(poll.answers) == 20
    assert poll.answers[-1] == ("x19", "19")
    assert poll.max_selections == 20


def test_parse_poll_start_reads_mixed_text_shapes() -> None:
    answers = [
        {"id": "s", "m.text": "old draft string"},
        {"id": "b", "body": "bare body"},
        {"m.id": "l", "org.matrix.msc1767.text": [{"body": "unstable list"}]},
    ]
    poll = parse_poll_start(unstable_start(answers=answers))
    assert poll is not None
    assert poll.answers == (("s", "old draft string"), ("b", "bare body"), ("l", "unstable list"))


def _without(data: dict[str, Any], *path: str) -> dict[str, Any]:
    copied = copy.deepcopy(data)
    target = copied
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return copied


def _with(data: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    copied = copy.deepcopy(data)
    target = copied
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copied


START_BLOCK = ("content", "org.matrix.msc3381.poll.start")
MALFORMED_STARTS = [
    _with(unstable_start(), "m.room.message", "type"),
    _without(unstable_start(), "type"),
    _without(unstable_start(), "sender"),
    _without(unstable_start(), "event_id"),
    _without(unstable_start(), "origin_server_ts"),
    _with(unstable_start(), "1000", "origin_server_ts"),
    _with(unstable_start(), 1000.5, "origin_server_ts"),
    _with(unstable_start(), True, "origin_server_ts"),
    _with(unstable_start(), 7, "sender"),
    _with(unstable_start(), [], "content"),
    _without(unstable_start(), *START_BLOCK),
    _with(unstable_start(), "poll", *START_BLOCK),
    _without(unstable_start(), *START_BLOCK, "question"),
    _with(unstable_start(), {"org.matrix.msc1767.text": 5}, *START_BLOCK, "question"),
    _with(unstable_start(), {"m.text": [{"nobody": "x"}]}, *START_BLOCK, "question"),
    _with(unstable_start(), [], *START_BLOCK, "answers"),
    _with(unstable_start(), {"id": "a"}, *START_BLOCK, "answers"),
    _with(unstable_start(), [{"id": 1}, None, []], *START_BLOCK, "answers"),
    _without(stable_start(), "content", "m.poll", "answers"),
    {},
    {"type": "m.poll.start"},
]


@pytest.mark.parametrize("start", MALFORMED_STARTS)
def test_parse_poll_start_malformed_returns_none(start: dict[str, Any]) -> None:
    assert parse_poll_start(start) is None


def test_parse_poll_start_not_a_dict_returns_none() -> None:
    assert parse_poll_start("event") is None  # type: ignore[arg-type]


# --- reading responses ----------------------------------------------------------------------


@pytest.mark.parametrize("make", [unstable_response, stable_response], ids=["unstable", "stable"])
def test_parse_poll_response_reads_both_shapes(make: Any) -> None:
    response = parse_poll_response(make(["jeu"], sender="@bob:example.org", event_id="$r1"))
    assert response == Response(
        poll_event_id=POLL, event_id="$r1", sender="@bob:example.org", ts=1000, selections=("jeu",)
    )


def test_parse_poll_response_empty_list_is_an_unvote_not_malformed() -> None:
    response = parse_poll_response(unstable_response([]))
    assert response is not None
    assert response.selections == ()
    assert response.malformed is False


def test_parse_poll_response_keeps_order_and_repeats_for_the_tally() -> None:
    response = parse_poll_response(stable_response(["b", "a", "b"]))
    assert response is not None
    assert response.selections == ("b", "a", "b")


def test_parse_poll_response_falls_back_to_the_other_shape() -> None:
    content = {
        "m.relates_to": {"rel_type": "m.reference", "event_id": POLL},
        "m.selections": ["pizza"],
    }
    response = parse_poll_response(event("org.matrix.msc3381.poll.response", content))
    assert response is not None
    assert response.selections == ("pizza",)


def test_parse_poll_response_prefers_shape_of_its_type() -> None:
    content = {
        "m.relates_to": {"rel_type": "m.reference", "event_id": POLL},
        "m.selections": ["stable"],
        "org.matrix.msc3381.poll.response": {"answers": ["unstable"]},
    }
    unstable = parse_poll_response(event("org.matrix.msc3381.poll.response", content))
    stable = parse_poll_response(event("m.poll.response", content))
    assert unstable is not None and unstable.selections == ("unstable",)
    assert stable is not None and stable.selections == ("stable",)


@pytest.mark.parametrize(
    "answers",
    [
        "jeu",
        None,
        {"0": "jeu"},
        ["jeu", 3],
        [["jeu"]],
        ["jeu", None],
        ["x"] * 101,
    ],
    ids=["string", "null", "dict", "int-entry", "nested", "null-entry", "huge"],
)
def test_parse_poll_response_unreadable_selections_are_malformed(answers: Any) -> None:
    for make in (unstable_response, stable_response):
        response = parse_poll_response(make(answers))
        assert response is not None
        assert response.malformed is True
        assert response.selections == ()


def test_parse_poll_response_without_selection_block_is_malformed() -> None:
    content = {"m.relates_to": {"rel_type": "m.reference", "event_id": POLL}}
    response = parse_poll_response(event("org.matrix.msc3381.poll.response", content))
    assert response is not None
    assert response.malformed is True


RESPONSE_RELATION = ("content", "m.relates_to")
UNATTRIBUTABLE_RESPONSES = [
    _with(unstable_response(["a"]), "m.room.message", "type"),
    _without(unstable_response(["a"]), "sender"),
    _without(unstable_response(["a"]), "event_id"),
    _without(unstable_response(["a"]), "origin_server_ts"),
    _with(unstable_response(["a"]), None, "origin_server_ts"),
    _with(unstable_response(["a"]), "x", "content"),
    _without(unstable_response(["a"]), *RESPONSE_RELATION),
    _with(unstable_response(["a"]), "m.annotation", *RESPONSE_RELATION, "rel_type"),
    _with(unstable_response(["a"]), "m.thread", *RESPONSE_RELATION, "rel_type"),
    _without(unstable_response(["a"]), *RESPONSE_RELATION, "event_id"),
    _with(unstable_response(["a"]), 12, *RESPONSE_RELATION, "event_id"),
    _with(unstable_response(["a"]), "", *RESPONSE_RELATION, "event_id"),
    _with(unstable_response(["a"]), ["$poll"], *RESPONSE_RELATION),
    # a redacted response keeps only its type and envelope
    _with(unstable_response(["a"]), {}, "content"),
]


@pytest.mark.parametrize("response", UNATTRIBUTABLE_RESPONSES)
def test_parse_poll_response_unattributable_returns_none(response: dict[str, Any]) -> None:
    assert parse_poll_response(response) is None


# --- reading ends ---------------------------------------------------------------------------


def test_parse_poll_end_stable_shape() -> None:
    content = {
        "m.relates_to": {"rel_type": "m.reference", "event_id": POLL},
        "m.text": [{"body": "The poll has closed. Top answer: Poutine"}],
        "m.poll.results": {"pizza": 5, "poutine": 8},
    }
    end = parse_poll_end(event("m.poll.end", content, event_id="$end", origin_server_ts=5))
    assert end == EndMarker(POLL, "$end", "@alice:example.org", 5)


@pytest.mark.parametrize(
    "end",
    [
        event("org.matrix.msc3381.poll.end", {}),
        event("org.matrix.msc3381.poll.response", build_poll_end(POLL, "x")),
        event("m.poll.end", {"m.relates_to": {"rel_type": "m.replace", "event_id": POLL}}),
        _without(event("m.poll.end", build_poll_end(POLL, "x")), "sender"),
    ],
)
def test_parse_poll_end_malformed_returns_none(end: dict[str, Any]) -> None:
    assert parse_poll_end(end) is None


def test_first_valid_end_ignores_ends_from_people_who_may_not_end() -> None:
    ends = [
        EndMarker(POLL, "$b", "@mallory:example.org", 10),
        EndMarker(POLL, "$c", "@alice:example.org", 30),
        EndMarker(POLL, "$a", "@mod:example.org", 30),
    ]
    allowed = {"@alice:example.org", "@mod:example.org"}
    first = first_valid_end(ends, lambda end: end.sender in allowed)
    assert first is not None and first.event_id == "$a"  # same ts: event id breaks the tie
    assert first_valid_end(ends, lambda end: False) is None
    assert first_valid_end([], lambda end: True) is None


# --- reactions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "index"),
    [
        ("1\ufe0f\u20e3", 0),
        ("1\u20e3", 0),
        ("2️⃣", 1),
        ("9\ufe0f\u20e3", 8),
        ("9\u20e3", 8),
        ("🔟", 9),
        ("\U0001f51f\ufe0f", 9),
        ("0\ufe0f\u20e3", None),
        ("#\ufe0f\u20e3", None),
        ("*\u20e3", None),
        ("1", None),
        ("10", None),
        ("👍", None),
        ("✅", None),
        ("", None),
        ("1\ufe0f\u20e3\u20e3", None),
        ("١\u20e3", None),  # Arabic-Indic one is not a keycap digit
        (" 1\u20e3", None),
    ],
)
def test_reaction_vote_maps_number_emoji(key: str, index: int | None) -> None:
    assert reaction_vote(key) == index


def test_reaction_vote_non_string_is_none() -> None:
    assert reaction_vote(1) is None  # type: ignore[arg-type]


def test_vote_emoji_round_trips() -> None:
    assert len(NUMBER_EMOJI) == 10
    for index in range(10):
        emoji = vote_emoji(index)
        assert emoji is not None
        assert reaction_vote(emoji) == index
    assert vote_emoji(10) is None
    assert vote_emoji(-1) is None


# --- properties: readers never raise --------------------------------------------------------

KEYS = [
    "type",
    "content",
    "sender",
    "event_id",
    "origin_server_ts",
    "m.relates_to",
    "rel_type",
    "m.reference",
    "m.selections",
    "answers",
    "id",
    "m.id",
    "m.poll",
    "m.text",
    "body",
    "mimetype",
    "question",
    "kind",
    "max_selections",
    "org.matrix.msc1767.text",
    "org.matrix.msc3381.poll.start",
    "org.matrix.msc3381.poll.response",
    *POLL_START_TYPES,
    *POLL_RESPONSE_TYPES,
    *POLL_END_TYPES,
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
    | st.sampled_from(KEYS)
)
json_like = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid poll event with one nested value replaced by arbitrary JSON."""
    base = draw(
        st.sampled_from(
            [unstable_start(), stable_start(), unstable_response(["mar"]), stable_response(["a"])]
        )
    )
    base = _with(
        base, draw(st.sampled_from(sorted(POLL_START_TYPES | POLL_RESPONSE_TYPES))), "type"
    )
    target: Any = base
    while isinstance(target, dict) and target and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(target)))
        if not isinstance(target[key], dict) or draw(st.booleans()):
            target[key] = draw(json_like)
            break
        target = target[key]
    return base


@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), json_like, max_size=8))
def test_parsers_never_raise_on_arbitrary_dicts(data: dict[str, Any]) -> None:
    parse_poll_start(data)
    parse_poll_response(data)
    parse_poll_end(data)


@given(mutated_events())
def test_parsers_never_raise_on_mutated_events(data: dict[str, Any]) -> None:
    poll = parse_poll_start(data)
    if poll is not None:
        assert 1 <= poll.max_selections <= len(poll.answers) <= 20
        assert len(set(poll.answer_ids)) == len(poll.answers)
    response = parse_poll_response(data)
    if response is not None:
        assert all(isinstance(selection, str) for selection in response.selections)
        assert not (response.malformed and response.selections)
    parse_poll_end(data)


@given(st.text(max_size=6))
def test_reaction_vote_never_raises(key: str) -> None:
    index = reaction_vote(key)
    assert index is None or 0 <= index <= 9
