"""Command fields as people type them: ``titre ; quand ; lieu: MAME ; rappels: 7j, 1j``.

Fields are separated by ``;`` or new lines. The first field is always positional (a title or a
question may contain a colon); a later field written ``key: value`` is an option when its key
is a known option name, French or English, with or without accents and capitals (``Lieu``,
``place``, ``Rappels``, ``reminders``…). Options come back under one canonical English name, so
handlers never deal with spellings.

Features pass the canonical names they accept (``allowed``): a later field that looks like an
option with another name is refused with a message naming the valid keys, since a typo in a key
(``liue: Tours``) would otherwise silently become part of the text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

from bot.text.errors import UserError
from bot.text.i18n import N_, Message

# Canonical name → the names people may type (French first: shown in messages).
OPTION_NAMES: dict[str, tuple[str, ...]] = {
    "when": ("quand", "date", "when"),
    "place": ("lieu", "place", "location", "adresse", "address"),
    "link": ("lien", "link", "url"),
    "end": ("fin", "end", "until", "jusqu'à"),
    "reminders": ("rappels", "rappel", "reminders", "reminder"),
    "choices": ("choix", "choices", "max"),
    "quorum": ("quorum",),
    "results": ("résultats", "results"),
    "type": ("type",),
    "anonymous": ("anonyme", "anonymous"),
}

MAX_KEY_LENGTH = 20
# A key is one word of letters (hyphens and apostrophes inside), then a colon not starting a URL
# (``https://…``); digits are excluded so ``14:30`` is never a key.
_OPTION = re.compile(r"^([^\W\d_][\w'’-]*)\s*:(?!//)\s*(.*)$", re.DOTALL)
_SEPARATORS = re.compile(r"[;\n]")

MSG_UNKNOWN_KEY = N_("Unknown field “{key}”. Valid fields here: {keys}.")
MSG_DUPLICATE_KEY = N_("The field “{key}” is given twice. Write it once.")
MSG_EMPTY_VALUE = N_("The field “{key}” has no value. Write for example: {example}.")


class FieldError(UserError):
    """Fields that cannot be read; ``message`` is the reply to give, untranslated."""


def fold_key(text: str) -> str:
    """``Lieu`` → ``lieu``, ``Échéance`` → ``echeance``: no case, no accents, ’ → '."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("’", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_BY_FOLDED = {
    fold_key(name): canonical for canonical, names in OPTION_NAMES.items() for name in names
}


def canonical_key(name: str) -> str | None:
    """The canonical option name for a typed key (``Rappels`` → ``reminders``), or None."""
    return _BY_FOLDED.get(fold_key(name))


def key_names(canonical: Collection[str]) -> str:
    """How to write the given options, for messages: ``lieu (place), lien (link)``."""
    shown = []
    for name in OPTION_NAMES:
        if name in canonical:
            french, *others = OPTION_NAMES[name]
            shown.append(f"{french} ({name})" if name in others else french)
    return ", ".join(shown)


def split_fields(
    text: str, allowed: Collection[str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """Split command arguments into positional fields and ``key: value`` options.

    Returns ``(positional, options)`` with options keyed by canonical English name. Empty
    fields are dropped. With ``allowed`` (canonical names), a later field that looks like an
    option outside ``allowed`` raises FieldError naming the valid keys; without it, only known
    option names are taken as options and anything else stays positional.
    """
    positional: list[str] = []
    options: dict[str, str] = {}
    fields = [" ".join(part.split()) for part in _SEPARATORS.split(text)]
    for index, field in enumerate(f for f in fields if f):
        match = _OPTION.match(field) if index > 0 else None
        if match is None or len(match.group(1)) > MAX_KEY_LENGTH:
            positional.append(field)
            continue
        typed, value = match.group(1), match.group(2).strip()
        canonical = canonical_key(typed)
        if allowed is not None and canonical not in allowed:
            raise FieldError(Message(MSG_UNKNOWN_KEY, {"key": typed, "keys": key_names(allowed)}))
        if canonical is None:
            positional.append(field)
            continue
        if canonical in options:
            raise FieldError(Message(MSG_DUPLICATE_KEY, {"key": typed}))
        if not value:
            example = f"{OPTION_NAMES[canonical][0]}: …"
            raise FieldError(Message(MSG_EMPTY_VALUE, {"key": typed, "example": example}))
        options[canonical] = value
    return positional, options
