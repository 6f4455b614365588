"""The command router: declared commands, accent-insensitive names, and the one pipeline every
command goes through (pacing, permission, declared arguments, handler, error mapping).

Each feature declares its commands once (name, aliases, who may run them, help text in
English msgids translated by the catalogues); help, usage and "did you mean" come from here.
"""

from __future__ import annotations

import difflib
import enum
import logging
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.runtime.context import Context
from bot.runtime.messages import MessageRenderer, notice_content
from bot.runtime.outbox import Outbox
from bot.runtime.pacing import Pacer, Verdict
from bot.text.errors import UserError
from bot.text.i18n import N_, Message
from storage.state import ProcessedEventRepository
from storage.waiting import WaitingCommandRepository

log = logging.getLogger(__name__)

Handler = Callable[[Context], Awaitable[None]]
ArgumentParser = Callable[[Context], Any]


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
    # Reads the arguments (``ctx.args``) before the handler runs, into ``ctx.arguments``; a
    # ``UserError`` it raises is answered with the command's usage.
    arguments: ArgumentParser | None = None

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


class CommandPipeline:
    """Every command goes through these steps, in this order, and only here:

    parse (is the message a command?) → backlog rule (sent long before the bot saw it) →
    pacing (now, a little later in order, or refused as a flood) → permission → the command's
    declared argument parser → its handler → error mapping (a ``UserError`` is answered in
    the room's language — with the command's usage when its arguments were wrong — anything
    else is an incident to log). The intake owns the transactions around these steps.
    """

    def __init__(
        self,
        registry: Registry,
        prefix: str,
        pacer: Pacer,
        renderer: MessageRenderer,
        outbox: Outbox,
    ) -> None:
        self.registry = registry
        self.prefix = prefix
        self.pacer = pacer
        self.renderer = renderer
        self.outbox = outbox

    # --- parse and backlog rule -----------------------------------------------------------

    def parse(self, body: str) -> tuple[str, str] | None:
        return split_command(body, self.prefix)

    def runs_in_backlog(self, name: str) -> bool:
        """Commands found in the backlog run only if they record data (a proposal)."""
        command = self.registry.find(name)
        return command is not None and command.backlog

    # --- pacing ---------------------------------------------------------------------------

    async def admit(self, ctx: Context, raw: dict[str, Any], body: str) -> bool:
        """Whether a command runs now; if not, it waits its turn or (a flood) is refused,
        and either way is recorded as processed in the context's transaction."""
        now = ctx.clock.now()
        organiser = await ctx.is_organiser()
        admission = self.pacer.admit(ctx.room_id, ctx.sender, now, organiser=organiser)
        if admission.verdict is Verdict.NOW:
            return True
        ProcessedEventRepository(ctx.session).add(ctx.event_id, ctx.room_id, now)
        if admission.verdict is Verdict.WAIT:
            assert admission.due_at is not None
            WaitingCommandRepository(ctx.session).add(
                event_id=ctx.event_id,
                room_id=ctx.room_id,
                sender=ctx.sender,
                event=raw,
                due_at=admission.due_at,
            )
            if admission.first_wait:
                rendered = self.renderer.text(
                    ctx.language,
                    "You are sending many commands at once: I will handle every one of them, "
                    "in order, a little more slowly (about {rate} a minute).",
                    rate=self.pacer.per_minute,
                )
                content = notice_content(
                    rendered, reply_to=ctx.event_id, thread_root=ctx.thread_root
                )
                self.outbox.enqueue(
                    ctx.session, key=f"pacing:{ctx.event_id}", room_id=ctx.room_id, content=content
                )
        else:
            self.pacer.refused(ctx.room_id, ctx.sender, ctx.event_id, body, now)
            log.warning("flood: command refused", extra={"room_id": ctx.room_id})
        return False

    # --- permission, arguments, handler ---------------------------------------------------

    async def run(self, ctx: Context, name: str) -> None:
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
        if command.arguments is not None:
            try:
                ctx.arguments = command.arguments(ctx)
            except UserError as error:
                raise ArgumentsError(error.message, command=command) from error
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

    # --- errors ---------------------------------------------------------------------------

    def answer(self, ctx: Context, error: Exception, *, is_command: bool, event: str) -> None:
        """What a person reads when handling failed (their changes were rolled back)."""
        if isinstance(error, UserError):
            if not is_command:
                return
            if isinstance(error, ArgumentsError):
                ctx.reply(
                    MSG_WITH_USAGE,
                    error=ctx.t(error.message),
                    usage=self.usage(ctx, error.command),
                )
            else:
                ctx.reply(error.message)
            return
        incident = uuid.uuid4().hex[:8]
        log.error(
            "handler failed (incident %s)",
            incident,
            exc_info=error,
            extra={"room_id": ctx.room_id, "event_id": event},
        )
        if is_command:
            ctx.reply(
                "Sorry, something went wrong while handling this command "
                "(incident {incident}). Nothing was recorded; please try again.",
                incident=incident,
            )

    def usage(self, ctx: Context, command: Command) -> str:
        """The command's syntax as `!aide <commande>` shows it."""
        syntax = ctx.t(command.usage) if command.usage else ""
        return f"{self.prefix}{command.name} {syntax}".strip()


MSG_WITH_USAGE = N_("{error}\nUsage: {usage}")


class ArgumentsError(UserError):
    """A command's arguments could not be read: answered with the command's usage."""

    def __init__(self, message: Message, *, command: Command) -> None:
        super().__init__(message)
        self.command = command
