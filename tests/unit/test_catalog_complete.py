"""Every user-facing string in code and templates has a French translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from bot.text.i18n import load_catalog

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"N_": None, "_": None, "UserError": None, "reply": None, "gettext": None}
METHODS = [("**.py", "python"), ("**/templates/**.j2", "jinja2")]


def extracted() -> dict[str, str]:
    found: dict[str, str] = {}
    for folder in ("bot", "handlers"):
        for filename, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder,
            method_map=METHODS,
            keywords=KEYWORDS,
            options_map={"**/templates/**.j2": {"extensions": "jinja2.ext.i18n"}},
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found[msgid] = f"{folder}/{filename}"
    return found


def test_every_message_has_a_french_translation():
    french = load_catalog("fr")
    missing = {msgid: where for msgid, where in extracted().items() if msgid not in french}
    assert missing == {}, "\n".join(f"{where}: {msgid!r}" for msgid, where in missing.items())


def test_placeholders_match_between_languages():
    import re

    french = load_catalog("fr")
    for msgid, translation in french.items():
        if isinstance(msgid, str):
            for pattern in (r"\{(\w+)\}", r"%\((\w+)\)s"):
                assert set(re.findall(pattern, msgid)) == set(re.findall(pattern, translation)), (
                    msgid
                )
