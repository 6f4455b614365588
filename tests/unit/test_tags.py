"""Proposal hashtags: extraction, folding, markers, synonyms and proposal text limits."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text.i18n import LOCALE_DIR, Translator, load_catalog
from handlers.shared import tags as tags_module
from handlers.shared.tags import (
    MAX_PROPOSAL_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    PROPOSAL_MARKERS,
    Tag,
    TagError,
    apply_synonyms,
    extract_tags,
    fold_tag,
    is_proposal_marker,
    most_used_spelling,
    parse_synonym_setting,
    split_proposal,
    validate_proposal_text,
)


def displays(text: str) -> list[str]:
    return [tag.display for tag in extract_tags(text)]


# --- extraction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Un tiers-lieu par canton #TiersLieux", ["TiersLieux"]),
        ("#Numérique et #ESS", ["Numérique", "ESS"]),
        ("#économie-sociale d'abord", ["économie-sociale"]),
        ("#économie_sociale", ["économie_sociale"]),
        ("#ess, #num. #a) #b! #c? #d; #e: fin", ["ess", "num", "a", "b", "c", "d", "e"]),
        ("#ess… et #num»", ["ess", "num"]),
        ("trailing #ess- and #num_", ["ess", "num"]),
        (
            "(#ess) [#num] «#climat» \"#eau\" '#air' *#feu*",
            ["ess", "num", "climat", "eau", "air", "feu"],
        ),
        ("liste:#a,#b;#c", ["b", "c"]),
        ("#ess#num", ["ess"]),
        ("#2030climat et #JO2024", ["2030climat", "JO2024"]),
        ("#日本語 #Ελλάδα #Москва", ["日本語", "Ελλάδα", "Москва"]),
        ("#ess\n#num\t#eau", ["ess", "num", "eau"]),
        ("début#ess", []),
        ("C# et F#", []),
        ("abc#def", []),
        ("https://ex.org/page#section", []),
        ("https://ex.org/#section et #vrai", ["vrai"]),
        ("voir www.ex.org/#ancre", []),
        ("<https://matrix.to/#/#salon:ex.org>", []),
        ("rejoignez #salon:matrix.org ou #ess", ["ess"]),
        ("#ess: important", ["ess"]),
        ("#ess:", ["ess"]),
        ("point #3 et #42", []),
        ("# titre markdown", []),
        ("##double", []),
        ("#_souligné #-tiret", []),
        ("&#39; entité", []),
        ("", []),
    ],
)
def test_extract_tags_finds_only_real_hashtags(text: str, expected: list[str]) -> None:
    assert displays(text) == expected


def test_extract_tags_folds_case_and_accents() -> None:
    assert extract_tags("#Numérique") == [Tag("Numérique", "numerique")]
    assert extract_tags("#TiersLieux") == [Tag("TiersLieux", "tierslieux")]
    assert extract_tags("#Économie-Sociale") == [Tag("Économie-Sociale", "economiesociale")]
    assert Tag("ESS", "ess").hashtag == "#ESS"


def test_extract_tags_composes_decomposed_accents() -> None:
    decomposed = "#nume\u0301rique"
    assert extract_tags(decomposed) == [Tag("numérique", "numerique")]


def test_extract_tags_deduplicates_keeping_first_spelling() -> None:
    text = "#Numérique #numerique #NUMÉRIQUE #num-erique #ESS #ess"
    assert extract_tags(text) == [Tag("Numérique", "numerique"), Tag("ESS", "ess")]


def test_extract_tags_length_limit() -> None:
    longest = "a" * MAX_TAG_LENGTH
    too_long = "b" * (MAX_TAG_LENGTH + 1)
    assert displays(f"#{longest} #{too_long} #ok") == [longest, "ok"]


def test_extract_tags_keeps_at_most_max_tags() -> None:
    text = " ".join(f"#tag{letter}" for letter in "abcdefghijklmnop")
    assert displays(text) == [f"tag{letter}" for letter in "abcdefghij"]
    assert len(extract_tags(text)) == MAX_TAGS


def test_extract_tags_fullwidth_hash_is_not_a_tag_but_fullwidth_letters_fold() -> None:
    assert extract_tags("＃ess") == []
    assert extract_tags("#ＥＳＳ") == [Tag("ＥＳＳ", "ess")]


# --- folding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("#Numerique", "#numérique"),
        ("#TiersLieux", "#tierslieux"),
        ("#Économie-Sociale", "#economiesociale"),
        ("#économie_sociale", "economie-sociale"),
        ("ESS", "#ess"),
        ("#Œuvre", "#œuvre"),
        ("#ﬁlière", "#filiere"),
        ("#Straße", "#strasse"),
        ("#Ça", "ca"),
    ],
)
def test_fold_tag_equalities(left: str, right: str) -> None:
    assert fold_tag(left) == fold_tag(right)


@pytest.mark.parametrize(
    ("tag", "folded"),
    [
        ("#Numérique", "numerique"),
        ("#Économie-Sociale", "economiesociale"),
        ("##ess", "ess"),
        ("#", ""),
        ("-#ess", "ess"),
        ("ＥＳＳ", "ess"),
    ],
)
def test_fold_tag_values(tag: str, folded: str) -> None:
    assert fold_tag(tag) == folded


def test_fold_tag_keeps_different_tags_apart() -> None:
    assert fold_tag("#ess") != fold_tag("#esse")
    assert fold_tag("#numérique") != fold_tag("#numériques")


# --- proposal markers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present", "themes"),
    [
        ("Des bancs #proposition #ESS", True, ["ESS"]),
        ("Benches #Proposal #ess", True, ["ess"]),
        ("#PROPOSITION seule", True, []),
        ("Pas une proposition #ess", False, ["ess"]),
        ("mot proposition sans dièse", False, []),
        ("#propositions au pluriel", False, ["propositions"]),
        ("#proposition #proposal #ess", True, ["ess"]),
    ],
)
def test_split_proposal(text: str, present: bool, themes: list[str]) -> None:
    markers_present, tags = split_proposal(text)
    assert markers_present is present
    assert [tag.display for tag in tags] == themes


def test_split_proposal_marker_after_many_tags_is_not_lost() -> None:
    text = " ".join(f"#t{n}x" for n in range(12)) + " #proposition"
    markers_present, tags = split_proposal(text)
    assert markers_present is True
    assert len(tags) == MAX_TAGS
    assert all(not is_proposal_marker(tag) for tag in tags)


def test_is_proposal_marker() -> None:
    assert {"proposition", "proposal"} == PROPOSAL_MARKERS
    assert is_proposal_marker(Tag("Proposition", "proposition"))
    assert is_proposal_marker(Tag("proposal", "proposal"))
    assert not is_proposal_marker(Tag("ess", "ess"))


# --- synonyms and spellings -----------------------------------------------------------------


def test_apply_synonyms_is_one_level() -> None:
    synonyms = {"ess": "economiesociale", "economiesociale": "eco"}
    assert apply_synonyms("ess", synonyms) == "economiesociale"
    assert apply_synonyms("numerique", synonyms) == "numerique"
    assert apply_synonyms("ess", {}) == "ess"


@pytest.mark.parametrize(
    ("spellings", "expected"),
    [
        (["ESS"], "ESS"),
        (["ess", "ESS", "ESS"], "ESS"),
        (["Numérique", "numérique", "numerique"], "Numérique"),
        (["b", "a", "a", "b"], "b"),
        (iter(["x", "y", "y"]), "y"),
    ],
)
def test_most_used_spelling(spellings: list[str], expected: str) -> None:
    assert most_used_spelling(spellings) == expected


def test_most_used_spelling_needs_a_spelling() -> None:
    with pytest.raises(ValueError):
        most_used_spelling([])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#ess = #économiesociale", ("ess", "economiesociale")),
        ("ess=économiesociale", ("ess", "economiesociale")),
        ("  #ESS   =   Économie-Sociale ", ("ess", "economiesociale")),
        ("#tiers_lieux = #TiersLieux2", ("tierslieux", "tierslieux2")),
    ],
)
def test_parse_synonym_setting(text: str, expected: tuple[str, str]) -> None:
    assert parse_synonym_setting(text) == expected


@pytest.mark.parametrize(
    ("text", "msgid", "params"),
    [
        ("#ess #eco", tags_module.SYNONYM_SYNTAX, {}),
        ("", tags_module.SYNONYM_SYNTAX, {}),
        ("#a = #b = #c", tags_module.SYNONYM_SYNTAX, {}),
        ("= #eco", tags_module.SYNONYM_SYNTAX, {}),
        ("#ess =", tags_module.SYNONYM_SYNTAX, {}),
        ("#ess = économie sociale", tags_module.INVALID_TAG, {"tag": "économie sociale"}),
        ("#ess! = #eco", tags_module.INVALID_TAG, {"tag": "#ess!"}),
        ("#ess = #", tags_module.INVALID_TAG, {"tag": "#"}),
        ("#42 = #eco", tags_module.INVALID_TAG, {"tag": "#42"}),
        ("#ess- = #eco", tags_module.INVALID_TAG, {"tag": "#ess-"}),
        (f"#{'a' * 33} = #eco", tags_module.INVALID_TAG, {"tag": f"#{'a' * 33}"}),
        ("#ESS = #ess", tags_module.SELF_SYNONYM, {"tag": "ess"}),
        ("#Économie = #economie", tags_module.SELF_SYNONYM, {"tag": "economie"}),
        ("#prop = #proposition", tags_module.MARKER_SYNONYM, {"tag": "proposition"}),
        ("#Proposal = #eco", tags_module.MARKER_SYNONYM, {"tag": "proposal"}),
    ],
)
def test_parse_synonym_setting_refuses_malformed(
    text: str, msgid: str, params: dict[str, object]
) -> None:
    with pytest.raises(TagError) as caught:
        parse_synonym_setting(text)
    message = caught.value.message
    assert message.msgid == msgid
    for key, value in params.items():
        assert message.params[key] == value
    assert isinstance(caught.value, ValueError)


# --- proposal text --------------------------------------------------------------------------


def test_validate_proposal_text_strips() -> None:
    assert validate_proposal_text("  Des bancs #ESS \n") == "Des bancs #ESS"


@pytest.mark.parametrize(
    "text", ["", "   ", "#proposition", "#ess #numérique", "#ess … !", "\n#a\n"]
)
def test_validate_proposal_text_refuses_only_hashtags(text: str) -> None:
    with pytest.raises(TagError) as caught:
        validate_proposal_text(text)
    assert caught.value.message.msgid == tags_module.EMPTY_PROPOSAL


def test_validate_proposal_text_length_limit() -> None:
    exact = "x" * MAX_PROPOSAL_LENGTH
    assert validate_proposal_text(f"  {exact}  ") == exact
    with pytest.raises(TagError) as caught:
        validate_proposal_text("y" * 10_000)
    message = caught.value.message
    assert message.msgid == tags_module.PROPOSAL_TOO_LONG
    assert message.params == {"max": MAX_PROPOSAL_LENGTH, "length": 10_000}
    assert "2000" in str(caught.value) and "10000" in str(caught.value)


# --- French catalogue -----------------------------------------------------------------------

MESSAGES = [
    tags_module.SYNONYM_SYNTAX,
    tags_module.INVALID_TAG,
    tags_module.SELF_SYNONYM,
    tags_module.MARKER_SYNONYM,
    tags_module.EMPTY_PROPOSAL,
    tags_module.PROPOSAL_TOO_LONG,
]


@pytest.mark.parametrize("msgid", MESSAGES)
def test_tag_messages_are_translated_to_french_with_same_placeholders(msgid: str) -> None:
    catalog = load_catalog("fr", LOCALE_DIR)
    assert msgid in catalog
    translated = str(catalog[msgid])
    assert set(re.findall(r"{(\w+)}", translated)) == set(re.findall(r"{(\w+)}", msgid))


def test_tag_error_renders_in_french() -> None:
    translator = Translator("fr", load_catalog("fr", LOCALE_DIR))
    with pytest.raises(TagError) as caught:
        validate_proposal_text("z" * 2500)
    assert translator.render(caught.value.message) == (
        "Une proposition peut compter au plus 2000 caractères ; celle-ci en a 2500."
    )


# --- properties -----------------------------------------------------------------------------

tagish_text = st.lists(
    st.sampled_from(["#", "#ess", "é", "e\u0301", "-", "_", ":", " ", "\n", "C#", "://", ",", "ß"])
    | st.text(max_size=6),
    max_size=20,
).map("".join)


@given(st.text() | tagish_text)
def test_extract_tags_never_raises_and_folds_stably(text: str) -> None:
    found = extract_tags(text)
    assert len(found) <= MAX_TAGS
    assert len({tag.folded for tag in found}) == len(found)
    for tag in found:
        assert tag.folded
        assert fold_tag(tag.folded) == tag.folded
        assert fold_tag(tag.display) == tag.folded
        assert 1 <= len(tag.display) <= MAX_TAG_LENGTH
        assert not tag.display.startswith("#")


@given(st.text())
def test_fold_tag_is_idempotent(text: str) -> None:
    folded = fold_tag(text)
    assert fold_tag(folded) == folded
    assert "-" not in folded and "_" not in folded
    assert not folded.startswith("#")


@given(st.text() | tagish_text)
def test_split_proposal_and_validators_never_raise_unexpectedly(text: str) -> None:
    split_proposal(text)
    for check in (validate_proposal_text, parse_synonym_setting):
        with contextlib.suppress(TagError):
            check(text)
