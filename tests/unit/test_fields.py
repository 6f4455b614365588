"""`;`-separated command fields with `key: value` options, in French or English."""

from __future__ import annotations

import pytest

from bot.text.fields import FieldError, canonical_key, key_names, split_fields


def test_fields_split_positional_and_options_on_semicolons_and_new_lines():
    positional, options = split_fields(
        "Journée numérique ; 11 mai 9h30 ; Lieu: MAME Tours\nrappels : 7j, 1j"
    )
    assert positional == ["Journée numérique", "11 mai 9h30"]
    assert options == {"place": "MAME Tours", "reminders": "7j, 1j"}


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("lieu", "place"), ("Place", "place"), ("LIEN", "link"), ("link", "link"),
        ("fin", "end"), ("End", "end"), ("rappels", "reminders"), ("Reminders", "reminders"),
        ("choix", "choices"), ("Quand", "when"), ("jusqu’à", "end"), ("inconnu", None),
    ],
)  # fmt: skip
def test_fields_fold_key_names_of_both_languages(typed, canonical):
    assert canonical_key(typed) == canonical


def test_fields_first_field_is_always_positional_even_with_a_colon():
    positional, options = split_fields("Lieu: la grande salle ; demain")
    assert positional == ["Lieu: la grande salle", "demain"]
    assert options == {}


def test_fields_times_and_urls_are_not_keys():
    positional, options = split_fields("Titre ; demain 14:30 ; https://example.org/x", ["link"])
    assert positional == ["Titre", "demain 14:30", "https://example.org/x"]
    assert options == {}
    _, options = split_fields("Titre ; demain ; lien: https://example.org/a:b")
    assert options == {"link": "https://example.org/a:b"}


def test_fields_drop_empty_fields_and_collapse_spaces():
    positional, _ = split_fields("  Titre   long ;; \n ; demain   9h ;")
    assert positional == ["Titre long", "demain 9h"]


def test_fields_unknown_key_is_refused_when_keys_are_restricted():
    with pytest.raises(FieldError) as caught:
        split_fields("Titre ; demain ; salle: B12", ["place", "link"])
    assert caught.value.message.params == {"key": "salle", "keys": "lieu (place), lien (link)"}
    with pytest.raises(FieldError):
        split_fields("Titre ; demain ; choix: 2", ["place"])  # known, but not for this command


def test_fields_unknown_key_stays_positional_without_restriction():
    positional, options = split_fields("Question ? ; Salle: B ; fin: demain")
    assert positional == ["Question ?", "Salle: B"]
    assert options == {"end": "demain"}


def test_fields_duplicate_and_empty_options_are_refused():
    with pytest.raises(FieldError, match="twice"):
        split_fields("T ; demain ; lieu: A ; place: B")
    with pytest.raises(FieldError, match="no value"):
        split_fields("T ; demain ; lieu:")


def test_fields_key_names_lists_french_with_english():
    assert key_names(["reminders", "end"]) == "fin (end), rappels (reminders)"
