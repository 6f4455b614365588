"""The one base class for errors a person should read.

Whatever refuses input — a date that cannot be one, a field with no value, a tag setting, a
command used without the right — raises a ``UserError`` (or a subclass) carrying the message
to give, untranslated: the command pipeline answers with it in the room's language, adds the
command's usage when the arguments were wrong, and stores nothing.
"""

from __future__ import annotations

from typing import Any

from bot.text.i18n import Message


class UserError(ValueError):
    """Bad input or a refusal: answered in the room's language, nothing stored."""

    def __init__(self, message: Message | str, **params: Any) -> None:
        if isinstance(message, str):
            message = Message(message, params)
        super().__init__(
            message.msgid.format(**message.params) if message.params else message.msgid
        )
        self.message = message
