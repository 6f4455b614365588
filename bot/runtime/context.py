"""What a handler gets: who said what where, the room's settings, and ways to answer.

Handlers never see the Matrix client: they reply, react and schedule through this context,
inside the database transaction that records the event as handled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.runtime.clock import Clock
from bot.runtime.messages import MessageRenderer, Rendered, notice_content, reaction_content
from bot.runtime.room_settings import RoomView
from bot.text.errors import UserError
from bot.text.i18n import Message, Translations, Translator

if TYPE_CHECKING:
    from bot.runtime.outbox import Outbox
    from bot.runtime.timers import Timers


@dataclass
class Context:
    """One incoming event being handled (a command, a message, a reaction, a poll vote…)."""

    room: RoomView
    sender: str
    event_id: str
    origin_ts: datetime
    session: Session
    clock: Clock
    translations: Translations
    renderer: MessageRenderer
    outbox: Outbox
    timers: Timers
    power_level: Callable[[str], Awaitable[float]]
    display_name: Callable[[str], str]
    thread_root: str | None = None
    args: str = ""
    command_name: str = ""
    arguments: Any = None  # what the command's declared argument parser read
    is_backlog: bool = False
    _replies: int = field(default=0, repr=False)

    @property
    def room_id(self) -> str:
        return self.room.room_id

    @property
    def language(self) -> str:
        return self.room.language

    @property
    def translator(self) -> Translator:
        return self.translations.for_language(self.room.language)

    def use_language(self, language: str) -> None:
        """Answer in another language from now on (after `!réglages langue`)."""
        self.room = replace(self.room, language=language)

    def t(self, message: Message | str, **params: Any) -> str:
        """Translate into the room's language."""
        return self.translator.render(message, **params)

    async def is_organiser(self, user_id: str | None = None) -> bool:
        level = await self.power_level(user_id or self.sender)
        return level >= self.room.organiser_power_level

    async def require_organiser(self) -> None:
        if not await self.is_organiser():
            raise UserError(
                "Only organisers (power level {level} or more) can do this here.",
                level=self.room.organiser_power_level,
            )

    # --- answering -----------------------------------------------------------------------

    def reply(self, message: Message | str, **params: Any) -> None:
        self.reply_rendered(self.renderer.text(self.language, message, **params))

    def reply_template(self, template: str, /, **context: Any) -> None:
        self.reply_rendered(self.renderer.render(template, self.language, **context))

    def reply_rendered(self, rendered: Rendered) -> None:
        if self.is_backlog:
            return  # what was said long ago while the bot was away is not answered now
        self._replies += 1
        content = notice_content(rendered, reply_to=self.event_id, thread_root=self.thread_root)
        self.outbox.enqueue(
            self.session,
            key=f"reply:{self.event_id}:{self._replies}",
            room_id=self.room_id,
            content=content,
        )

    def send(self, key: str, content: dict[str, Any], event_type: str = "m.room.message") -> None:
        """Queue any event under a unique key (announcements, polls…)."""
        self.outbox.enqueue(
            self.session, key=key, room_id=self.room_id, content=content, event_type=event_type
        )

    def react(self, key: str, target_event_id: str | None = None) -> None:
        target = target_event_id or self.event_id
        self.outbox.enqueue(
            self.session,
            key=f"react:{target}:{key}",
            room_id=self.room_id,
            content=reaction_content(target, key),
            event_type="m.reaction",
        )
