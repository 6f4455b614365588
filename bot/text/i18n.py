"""Translations: English source strings, French (and future) catalogues read from .po files.

Every user-facing string in code is written in English and marked with ``N_`` (for
strings declared ahead of use) or translated on the spot with ``Translator.gettext``.
Each feature keeps its own catalogue file (``locale/<lang>/LC_MESSAGES/<feature>.po``) so
features can be added without touching one shared file; all files of a language are merged.
"""

from __future__ import annotations

import gettext as _gettext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent.parent / "locale"
SUPPORTED_LANGUAGES = ("fr", "en")
SOURCE_LANGUAGE = "en"


def N_(message: str) -> str:
    """Mark a string for translation without translating it yet (babel extracts it)."""
    return message


@dataclass(frozen=True)
class Message:
    """A user-facing message not yet translated: an English msgid and its parameters.

    Parsers return these so they stay independent of the room's language.
    """

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)


class Translator(_gettext.NullTranslations):
    """gettext-compatible translations for one language (plural forms included)."""

    def __init__(self, language: str, catalog: dict[str | tuple[str, int], str]) -> None:
        super().__init__()
        self.language = language
        self._catalog = catalog
        self._plural = _gettext.c2py("n != 1" if language == "en" else "n > 1")

    def gettext(self, message: str) -> str:
        return self._catalog.get(message) or message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        index = self._plural(n)
        translated = self._catalog.get((msgid1, index))
        if translated:
            return translated
        return msgid1 if n == 1 else msgid2

    def render(self, message: Message | str, **params: Any) -> str:
        """Translate a message and fill in its ``{named}`` parameters."""
        if isinstance(message, Message):
            params = {**message.params, **params}
            message = message.msgid
        text = self.gettext(message)
        return text.format(**params) if params else text


def load_catalog(language: str, locale_dir: Path = LOCALE_DIR) -> dict[str | tuple[str, int], str]:
    """Merge every .po file of ``language`` into one msgid → translation mapping."""
    catalog: dict[str | tuple[str, int], str] = {}
    folder = locale_dir / language / "LC_MESSAGES"
    for po_path in sorted(folder.glob("*.po")):
        with po_path.open("rb") as handle:
            po = read_po(handle, locale=language)
        for entry in po:
            if not entry.id or entry.fuzzy:
                continue
            if isinstance(entry.id, (tuple, list)):
                strings = (
                    entry.string if isinstance(entry.string, (tuple, list)) else [entry.string]
                )
                for index, text in enumerate(strings):
                    if text:
                        catalog[(str(entry.id[0]), index)] = str(text)
            elif entry.string:
                catalog[str(entry.id)] = str(entry.string)
    return catalog


class Translations:
    """One Translator per supported language, loaded once at start."""

    def __init__(self, locale_dir: Path = LOCALE_DIR) -> None:
        self._translators = {
            language: Translator(language, load_catalog(language, locale_dir))
            for language in SUPPORTED_LANGUAGES
        }

    def for_language(self, language: str) -> Translator:
        return self._translators.get(language) or self._translators[SOURCE_LANGUAGE]
