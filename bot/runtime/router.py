"""The command router: declared commands, accent-insensitive names, permissions, error boundary.

Each feature declares its commands once (name, aliases, who may run them, help text in
English msgids translated by the catalogues); help, usage and "did you mean" come from here.
"""

from __future__ import annotations

import difflib
import enum
import logging
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.runtime.context import Context
from bot.text.i18n import Message

log = logging.getLogger(__name__)

Handler = Callable[[Context], Awaitable[None]]


class Permission(enum.Enum):
    EVERYONE = "everyone"
    ORGANISERS = "organisers"


@dataclass(frozen=True)
class Command:
    """A chat command. ``name`` is French (primary); ``aliases`` include English names."""

    name: str
    aliases: tuple[str, ...]
    handler: Handler
    summary: str  # English msgid, one line
    usage: str  # English msgid: the syntax after the command name
    examples: tuple[str, ...] = ()  # English msgids of full example lines (without prefix)
    permission: Permission = Permission.EVERYONE
    details: str = ""  # English msgid: extra help shown by `!aide <command>`
    # Also run when found in the backlog (sent > 5 min before the bot saw it): for commands
    # that record data (a proposal). Replies are not sent for backlog events.
    backlog: bool = False

    @property
    def all_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def fold(text: str) -> str:
    """Lowercase without accents: `Événement` and `evenement` are the same command."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def split_command(body: str, prefix: str) -> tuple[str, str] | None:
    """``!Événement  Titre ; demain`` → (``événement``, ``Titre ; demain``); None if no command."""
    text = body.strip()
    if not text.startswith(prefix):
        return None
    rest = text[len(prefix) :]
    if not rest or rest[0].isspace():
        return None
    parts = rest.split(None, 1)
    return parts[0], (parts[1].strip() if len(parts) > 1 else "")


class Registry:
    def __init__(self, commands: list[Command]) -> None:
        self.commands = commands
        self._by_name: dict[str, Command] = {}
        for command in commands:
            for name in command.all_names:
                folded = fold(name)
                if self._by_name.get(folded, command) is not command:
                    raise ValueError(f"command name {name!r} declared twice")
                self._by_name[folded] = command

    def find(self, name: str) -> Command | None:
        return self._by_name.get(fold(name))

    def closest(self, name: str) -> Command | None:
        matches = difflib.get_close_matches(fold(name), list(self._by_name), n=1, cutoff=0.5)
        return self._by_name[matches[0]] if matches else None


class Router:
    def __init__(self, registry: Registry, prefix: str) -> None:
        self.registry = registry
        self.prefix = prefix

    def parse(self, body: str) -> tuple[str, str] | None:
        return split_command(body, self.prefix)

    async def dispatch(self, ctx: Context, name: str) -> None:
        """Run one command: look it up, check who may run it, call its handler (errors are
        answered by the intake's boundary)."""
        command = self.registry.find(name)
        if command is None:
            self._reply_unknown(ctx, name)
            return
        ctx.command_name = command.name
        if command.permission is Permission.ORGANISERS and not await ctx.is_organiser():
            ctx.reply(
                "Only organisers (power level {level} or more) can use {command} here.",
                level=ctx.room.organiser_power_level,
                command=self.prefix + command.name,
            )
            return
        await command.handler(ctx)

    def _reply_unknown(self, ctx: Context, name: str) -> None:
        closest = self.registry.closest(name)
        if closest is not None:
            ctx.reply(
                "Unknown command {command}. Did you mean {suggestion}? Type {help} for the list.",
                command=self.prefix + name,
                suggestion=self.prefix + closest.name,
                help=self.prefix + "aide",
            )
        else:
            ctx.reply(
                "Unknown command {command}. Type {help} for the list.",
                command=self.prefix + name,
                help=self.prefix + "aide",
            )


def user_message(error: BaseException) -> Message | None:
    """The user-facing message carried by a parser error (dates, tags, polls…), if any."""
    message = getattr(error, "message", None)
    return message if isinstance(message, Message) else None
