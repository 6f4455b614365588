"""Parsing `!sondage` and `!clore` arguments: what is accepted, and the precise refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.text.dates import DateError
from bot.text.errors import UserError
from bot.text.fields import FieldError
from handlers.polls.args import parse_poll_id, parse_poll_request

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)  # Monday 3 May 2027, 10:00 in Paris


def parse(text: str):
    return parse_poll_request(text, now=NOW, tz=PARIS, language="fr")


def test_polls_parse_question_answers_end_and_choices():
    request = parse(
        "Quel jour pour l'atelier ? ; mardi ; jeudi ; vendredi ; fin: vendredi 18h ; choix: 2"
    )
    assert request.question == "Quel jour pour l'atelier ?"
    assert request.answers == ("mardi", "jeudi", "vendredi")
    assert request.max_selections == 2
    assert request.closes_at == datetime(2027, 5, 7, 16, 0, tzinfo=UTC)


def test_polls_parse_english_keys_and_new_lines():
    request = parse("Which day?\nTuesday\nThursday\nend: in 2 hours\nchoices: 1")
    assert request.answers == ("Tuesday", "Thursday")
    assert request.max_selections == 1
    assert request.closes_at == NOW + timedelta(hours=2)


def test_polls_parse_defaults_without_end_or_choices():
    request = parse("Pizza ? ; oui ; non")
    assert request.max_selections == 1
    assert request.closes_at is None


def test_polls_parse_keeps_times_and_links_as_answers():
    request = parse("Quelle heure ? ; 10:30 ; https://example.org/a ; 14h")
    assert request.answers == ("10:30", "https://example.org/a", "14h")


@pytest.mark.parametrize(
    ("text", "key", "example"),
    [
        ("Q ; a ; b ; fni: demain", "fni", "fni demain"),  # a typo of fin: is not an answer
        ("Quelle salle ? ; Salle:  B ; C", "Salle", "Salle B"),
        ("Q ; a ; b\nquand: demain", "quand", "quand demain"),
    ],
)
def test_polls_parse_refuses_unknown_keys_with_the_known_ones(text, key, example):
    with pytest.raises(FieldError) as refused:
        parse(text)
    message = refused.value.message
    assert "Unknown field" in message.msgid and "without the colon" in message.msgid
    keys = "fin (end), choix (choices), quorum, résultats (results), type, anonyme (anonymous)"
    assert message.params == {"key": key, "keys": keys, "example": example}


@pytest.mark.parametrize(
    ("text", "msgid_part", "params"),
    [
        ("", "Give a question", {}),
        ("Pizza ? ; oui", "at least {min} options", {"count": 1}),
        ("Pizza ?", "at least {min} options", {"count": 0}),
        ("Q ; " + " ; ".join(f"option {n}" for n in range(21)), "at most {max}", {"count": 21}),
        ("Q ; Mardi ; jeudi ; mardi", "given twice", {"first": "Mardi", "second": "mardi"}),
        ("Q ; Été ; ete", "given twice", {"first": "Été"}),
        ("Q ; a ; b ; choix: 3", "number of choices", {"value": "3", "max": 2}),
        ("Q ; a ; b ; choix: 0", "number of choices", {"value": "0"}),
        ("Q ; a ; b ; choices: deux", "number of choices", {"value": "deux"}),
        ("Q ; a ; " + "b" * 201, "too long", {"max": 200}),
    ],
)
def test_polls_parse_refuses_bad_input_precisely(text, msgid_part, params):
    with pytest.raises(UserError) as raised:
        parse(text)
    message = raised.value.message
    assert msgid_part in message.msgid
    for key, value in params.items():
        assert message.params[key] == value


@pytest.mark.parametrize("end", ["2001-01-01 10:00", "n'importe quand", "2027-05-01 10:00"])
def test_polls_parse_refuses_past_or_unreadable_end(end):
    with pytest.raises(DateError) as raised:
        parse(f"Q ; a ; b ; fin: {end}")
    assert raised.value.message.msgid  # answered by the runtime in the room's language


def test_polls_parse_accepts_exactly_twenty_answers():
    request = parse("Q ; " + " ; ".join(f"option {n}" for n in range(20)))
    assert len(request.answers) == 20


@pytest.mark.parametrize(("text", "expected"), [("S2", 2), ("s17", 17), ("4", 4)])
def test_polls_parse_poll_id(text, expected):
    assert parse_poll_id(text) == expected


@pytest.mark.parametrize("text", ["E2", "S", "Sdeux", "S-1"])
def test_polls_parse_poll_id_refuses_others(text):
    with pytest.raises(UserError):
        parse_poll_id(text)


def test_polls_parse_refuses_repeated_or_foreign_fields():
    with pytest.raises(FieldError) as repeated:
        parse("Q ; a ; b ; fin: demain ; end: lundi")
    assert "given twice" in repeated.value.message.msgid
    with pytest.raises(FieldError) as foreign:
        parse("Q ; a ; b ; lieu: Tours")
    assert "Unknown field" in foreign.value.message.msgid
    keys = foreign.value.message.params["keys"]
    assert keys == (
        "fin (end), choix (choices), quorum, résultats (results), type, anonyme (anonymous)"
    )


@pytest.mark.parametrize(
    ("text", "quorum", "hidden"),
    [
        ("Q ; a ; b ; quorum: 50%", 50, False),
        ("Q ; a ; b ; Quorum: 100 %", 100, False),
        ("Q ; a ; b ; quorum: 1", 1, False),
        ("Q ; a ; b ; résultats: à la fin", None, True),
        ("Q ; a ; b ; resultats: A la fin", None, True),
        ("Q ; a ; b ; results: at the end ; quorum: 30%", 30, True),
        ("Q ; a ; b ; résultats: en direct", None, False),
    ],
)
def test_polls_parse_quorum_and_results(text, quorum, hidden):
    request = parse(text)
    assert (request.quorum, request.hide_results) == (quorum, hidden)
    assert request.answers == ("a", "b")


@pytest.mark.parametrize(
    ("text", "msgid_part"),
    [
        ("Q ; a ; b ; quorum: 0%", "The quorum “{value}” is not valid"),
        ("Q ; a ; b ; quorum: 150%", "The quorum “{value}” is not valid"),
        ("Q ; a ; b ; quorum: la moitié", "The quorum “{value}” is not valid"),
        ("Q ; a ; b ; résultats: demain", "is not a choice for the results"),
    ],
)
def test_polls_parse_refuses_bad_quorum_or_results(text, msgid_part):
    with pytest.raises(UserError) as refused:
        parse(text)
    assert msgid_part in refused.value.message.msgid
