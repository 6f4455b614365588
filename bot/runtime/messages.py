"""Renders what the bot says: Jinja2 templates (plain body + escaped HTML) into Matrix content.

Every message carries an explicit ``m.mentions`` so that user text echoed by the bot can never
ping anyone (``@room`` included) unless the bot means to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.text.i18n import Message, Translations

TEMPLATES_DIR = Path(__file__).parent.parent / "templates"
MAX_EVENT_BYTES = 60_000  # below the 64 KiB event limit, leaving room for the envelope


def content_bytes(content: dict[str, Any]) -> int:
    """Size of an event content as sent (what MAX_EVENT_BYTES applies to)."""
    return len(json.dumps(content, ensure_ascii=False).encode())


@dataclass(frozen=True)
class Rendered:
    body: str
    html: str


class MessageRenderer:
    """One Jinja2 environment per language, each with its gettext catalogue installed."""

    def __init__(self, translations: Translations, override_dir: Path | None = None) -> None:
        self.translations = translations
        loaders = []
        if override_dir is not None:
            loaders.append(FileSystemLoader(str(override_dir)))
        loaders.append(FileSystemLoader(str(TEMPLATES_DIR)))
        self._environments: dict[str, Environment] = {}
        for language in ("fr", "en"):
            environment = Environment(
                loader=ChoiceLoader(loaders),
                autoescape=select_autoescape(["html", "html.j2"], default_for_string=True),
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
            )
            environment.install_gettext_translations(  # type: ignore[attr-defined]
                translations.for_language(language), newstyle=True
            )
            self._environments[language] = environment

    def environment(self, language: str) -> Environment:
        return self._environments.get(language) or self._environments["en"]

    def render(self, template: str, lang: str, /, **context: Any) -> Rendered:
        """Render ``name.txt.j2`` and ``name.html.j2`` with the same context."""
        environment = self.environment(lang)
        body = environment.get_template(f"{template}.txt.j2").render(**context).strip()
        html = environment.get_template(f"{template}.html.j2").render(**context).strip()
        return Rendered(body=body, html=html)

    def text(self, language: str, message: Message | str, **params: Any) -> Rendered:
        """A one-paragraph message from a translated string (escaped in the HTML part)."""
        translated = self.translations.for_language(language).render(message, **params)
        return self.render("plain", language, text=translated)


def notice_content(
    rendered: Rendered, *, reply_to: str | None = None, thread_root: str | None = None
) -> dict[str, Any]:
    """An ``m.notice`` reply: never notifies, never pings, answers in the command's thread."""
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": rendered.body,
        "format": "org.matrix.custom.html",
        "formatted_body": rendered.html,
        "m.mentions": {},
    }
    relation = relation_for(reply_to, thread_root)
    if relation:
        content["m.relates_to"] = relation
    return content


def ping_content(
    rendered: Rendered, *, user_ids: list[str], room: bool = False, thread_root: str | None = None
) -> dict[str, Any]:
    """An ``m.text`` message that notifies exactly the people named (notices never notify)."""
    mentions: dict[str, Any] = {}
    if user_ids:
        mentions["user_ids"] = sorted(set(user_ids))
    if room:
        mentions["room"] = True
    content: dict[str, Any] = {
        "msgtype": "m.text",
        "body": rendered.body,
        "format": "org.matrix.custom.html",
        "formatted_body": rendered.html,
        "m.mentions": mentions,
    }
    relation = relation_for(None, thread_root)
    if relation:
        content["m.relates_to"] = relation
    return content


def reaction_content(event_id: str, key: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}


def relation_for(reply_to: str | None, thread_root: str | None) -> dict[str, Any] | None:
    if thread_root:
        relation: dict[str, Any] = {
            "rel_type": "m.thread",
            "event_id": thread_root,
            "is_falling_back": True,
        }
        if reply_to:
            relation["m.in_reply_to"] = {"event_id": reply_to}
        return relation
    if reply_to:
        return {"m.in_reply_to": {"event_id": reply_to}}
    return None
