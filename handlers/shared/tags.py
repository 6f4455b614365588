"""Hashtags on proposals: find them in free text, fold them for matching, map synonyms.

People write ``#Numérique``, ``#numerique`` or ``#NUMÉRIQUE`` and mean one theme, so tags are
compared by their folded form (no case, no accents, no ``-``/``_``) while the digest shows the
spelling people use most. Extraction is lenient (passive capture must never fail); the
settings and proposal validators raise ``TagError`` carrying an untranslated ``Message``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.text.errors import UserError
from bot.text.i18n import N_, Message

MAX_TAG_LENGTH = 32  # characters after the '#'
MAX_TAGS = 10
MAX_PROPOSAL_LENGTH = 2000
PROPOSAL_MARKERS = frozenset({"proposition", "proposal"})

SYNONYM_SYNTAX = N_(
    "Write a synonym as “#tag = #canonical”, for example “#ess = #économiesociale”."
)
INVALID_TAG = N_(
    "“{tag}” is not a valid tag: use letters, digits, “-” or “_”, at most {max} characters."
)
SELF_SYNONYM = N_("#{tag} cannot be a synonym of itself.")
MARKER_SYNONYM = N_("#{tag} marks proposals and cannot be a synonym.")
EMPTY_PROPOSAL = N_(
    "A proposal needs some words besides its hashtags, for example: "
    "“!proposal A tiers-lieu in every canton #tierslieux”."
)
PROPOSAL_TOO_LONG = N_("A proposal can be at most {max} characters long; this one has {length}.")

# Tag body: starts with a letter or digit; letters, digits, combining marks, '-' and '_' follow.
_BODY = r"[^\W_][\w\u0300-\u036f-]*"
# A tag starts a word: at the start, after a space, an opening bracket or quote, or a list
# separator. So 'C#', 'abc#def' and '/page#section' are not tags.
_TAG_RE = re.compile(r"(?<![^\s(\[{«\"'“‘*,;])#(" + _BODY + ")")
_BODY_RE = re.compile(_BODY)
_URL_RE = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)\S+")
_HASHTAG_TOKEN_RE = re.compile(r"#\S*")


class TagError(UserError):
    """A tag setting or proposal text was refused; ``message`` says why, untranslated."""


@dataclass(frozen=True)
class Tag:
    """A hashtag as written (``display``, without '#') and as matched (``folded``)."""

    display: str
    folded: str

    @property
    def hashtag(self) -> str:
        """The tag as shown to people, with its '#'."""
        return f"#{self.display}"


def fold_tag(tag: str) -> str:
    """The matching form of a tag: lowercase, no accents, no '-'/'_', no leading '#'.

    ``fold_tag("#Économie-Sociale") == fold_tag("economiesociale")``; folding is idempotent.
    """
    text = tag
    for _ in range(4):  # compatibility forms can decompose into new cased letters
        plain = _strip_marks(text).casefold()
        if plain == text:
            break
        text = plain
    return text.replace("-", "").replace("_", "").lstrip("#")


def _strip_marks(text: str) -> str:
    """Compatibility-decompose and drop combining marks (é → e, ﬁ → fi, ＥＳＳ → ESS)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def extract_tags(text: str) -> list[Tag]:
    """The hashtags of a message, first spelling kept per folded form, at most ``MAX_TAGS``.

    Not tags: '#' inside a word or a URL, room aliases (``#room:server.org``), number-only
    references (``#3``), and tags longer than ``MAX_TAG_LENGTH`` (ignored, not refused).
    """
    return _scan_tags(text)[:MAX_TAGS]


def _scan_tags(text: str) -> list[Tag]:
    """Every distinct hashtag of ``text``, in order of appearance."""
    normalized = _URL_RE.sub(" ", unicodedata.normalize("NFC", text))
    tags: dict[str, Tag] = {}
    for match in _TAG_RE.finditer(normalized):
        if _is_room_alias(normalized, match.end()):
            continue
        tag = _make_tag(match.group(1))
        if tag is not None and tag.folded not in tags:
            tags[tag.folded] = tag
    return list(tags.values())


def _is_room_alias(text: str, end: int) -> bool:
    """Whether the tag ending at ``end`` continues as ``:server`` (a Matrix room alias)."""
    following = text[end + 1 : end + 2]
    return text[end : end + 1] == ":" and following != "" and not following.isspace()


def _make_tag(body: str) -> Tag | None:
    """A tag from a matched body, or ``None`` if it is too long or has no letter."""
    display = body.rstrip("-_")
    if len(display) > MAX_TAG_LENGTH or not any(char.isalpha() for char in display):
        return None
    folded = fold_tag(display)
    return Tag(display=display, folded=folded) if folded else None


def is_proposal_marker(tag: Tag) -> bool:
    """Whether the tag marks a message as a proposal (``#proposition``, ``#proposal``)."""
    return tag.folded in PROPOSAL_MARKERS


def split_proposal(text: str) -> tuple[bool, list[Tag]]:
    """Whether ``text`` carries a proposal marker, and its other tags (at most ``MAX_TAGS``).

    Markers do not take a tag's place, so a marker written last is never lost.
    """
    tags = _scan_tags(text)
    themes = [tag for tag in tags if not is_proposal_marker(tag)]
    return len(themes) < len(tags), themes[:MAX_TAGS]


def apply_synonyms(folded: str, synonyms: Mapping[str, str]) -> str:
    """The canonical folded tag for ``folded`` (one level: synonyms do not chain)."""
    return synonyms.get(folded, folded)


def most_used_spelling(spellings: Iterable[str]) -> str:
    """The spelling written most often for one tag; ties go to the first seen.

    Raises ``ValueError`` when there is no spelling at all.
    """
    counts: dict[str, int] = {}
    for spelling in spellings:
        counts[spelling] = counts.get(spelling, 0) + 1
    if not counts:
        raise ValueError("no spelling to choose from")
    return max(counts, key=counts.__getitem__)  # max keeps the first of equal counts


def parse_synonym_setting(text: str) -> tuple[str, str]:
    """Read ``#ess = #économiesociale`` (or ``ess=économiesociale``) as folded (alias, canonical).

    Raises ``TagError`` when the setting is not two valid, different, non-marker tags.
    """
    parts = text.split("=")
    if len(parts) != 2:
        raise TagError(Message(SYNONYM_SYNTAX))
    alias, canonical = (_setting_tag(part) for part in parts)
    if alias == canonical:
        raise TagError(Message(SELF_SYNONYM, {"tag": alias}))
    for folded in (alias, canonical):
        if folded in PROPOSAL_MARKERS:
            raise TagError(Message(MARKER_SYNONYM, {"tag": folded}))
    return alias, canonical


def _setting_tag(part: str) -> str:
    """The folded form of one side of a synonym setting, or a ``TagError``."""
    written = part.strip()
    body = written.removeprefix("#")
    if not written:
        raise TagError(Message(SYNONYM_SYNTAX))
    tag = _make_tag(body) if _BODY_RE.fullmatch(body) else None
    if tag is None or tag.display != body:
        raise TagError(Message(INVALID_TAG, {"tag": written, "max": MAX_TAG_LENGTH}))
    return tag.folded


def validate_proposal_text(text: str) -> str:
    """The proposal text, stripped; refused if it has no words besides hashtags, or is too long.

    Raises ``TagError`` with the limit and the current length when too long.
    """
    stripped = text.strip()
    words = _HASHTAG_TOKEN_RE.sub(" ", stripped)
    if not any(char.isalnum() for char in words):
        raise TagError(Message(EMPTY_PROPOSAL))
    if len(stripped) > MAX_PROPOSAL_LENGTH:
        raise TagError(
            Message(PROPOSAL_TOO_LONG, {"max": MAX_PROPOSAL_LENGTH, "length": len(stripped)})
        )
    return stripped
