"""`!aide` / `!help`: the commands this person may use here, or the help of one command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.runtime.context import Context
from bot.runtime.kit import Feature
from bot.runtime.router import Command, Permission, Registry
from bot.text.errors import UserError
from bot.text.i18n import N_, Translator


def describe(command: Command, prefix: str, translator: Translator) -> dict[str, Any]:
    """What help shows for one command, in the reader's language."""
    return {
        "name": prefix + command.name,
        "usage": translator.gettext(command.usage) if command.usage else "",
        "summary": translator.gettext(command.summary),
        "aliases": [prefix + alias for alias in command.aliases],
        "examples": [prefix + translator.gettext(example) for example in command.examples],
        "details": translator.gettext(command.details) if command.details else "",
        "organisers_only": command.permission is Permission.ORGANISERS,
    }


def feature(registry: Callable[[], Registry], prefix: str) -> Feature:
    return Feature(commands=commands(registry, prefix))


def commands(registry: Callable[[], Registry], prefix: str) -> list[Command]:
    def read_command(ctx: Context) -> Command | None:
        """`!aide` arguments: nothing for the list, or a known command's name (with or without
        the prefix); an unknown name is refused with the closest one, if any."""
        if not ctx.args:
            return None
        known = registry()
        wanted = ctx.args.split()[0].lstrip(prefix)
        command = known.find(wanted)
        if command is not None:
            return command
        closest = known.closest(wanted)
        if closest is not None:
            raise UserError(
                "There is no command {command}. Did you mean {suggestion}?",
                command=prefix + wanted,
                suggestion=prefix + closest.name,
            )
        raise UserError(
            "There is no command {command}. Type {help} for the list.",
            command=prefix + wanted,
            help=prefix + "aide",
        )

    async def aide(ctx: Context) -> None:
        wanted: Command | None = ctx.arguments
        if wanted is not None:
            ctx.reply_template("help_command", command=describe(wanted, prefix, ctx.translator))
            return
        known = registry()
        organiser = await ctx.is_organiser()
        allowed = [
            describe(command, prefix, ctx.translator)
            for command in known.commands
            if organiser or command.permission is Permission.EVERYONE
        ]
        ctx.reply_template(
            "help_list",
            commands=allowed,
            organiser=organiser,
            level=ctx.room.organiser_power_level,
            help_name=prefix + "aide",
        )

    return [
        Command(
            name="aide",
            aliases=("help",),
            handler=aide,
            arguments=read_command,
            summary=N_("the commands you can use here, with examples"),
            usage=N_("[command]"),
            examples=(N_("help"), N_("help poll")),
        )
    ]
