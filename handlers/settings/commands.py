"""`!réglages` / `!settings`: show the room's settings (everyone) or change one (organisers)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.runtime.context import Context
from bot.runtime.kit import Feature, Services, SettingsListener
from bot.runtime.router import Command, Handler, fold
from bot.text.dates import DateError, format_offset, parse_offsets
from bot.text.errors import UserError
from bot.text.i18n import N_, SUPPORTED_LANGUAGES
from handlers.shared.schedule import OFF_WORDS, parse_digest_schedule
from handlers.shared.tags import TagError, parse_synonym_setting
from storage.rooms import RoomSettingsRepository

ROOM_PATTERN = re.compile(r"^[!#][^\s:]+(:[A-Za-z0-9.\-]+(:\d+)?)?$")


def _offsets(value: str, language: str) -> str:
    try:
        offsets = parse_offsets(value)
    except DateError as error:
        raise UserError(error.message) from None
    return ", ".join(format_offset(offset, language="fr") for offset in offsets)


Setter = Callable[[Context, str], dict[str, object]]


def _set_language(ctx: Context, value: str) -> dict[str, object]:
    language = value.lower()
    if language not in SUPPORTED_LANGUAGES:
        raise UserError(
            "Unknown language {value}: choose {choices}.",
            value=value,
            choices=", ".join(SUPPORTED_LANGUAGES),
        )
    return {"language": language}


def _set_timezone(ctx: Context, value: str) -> dict[str, object]:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            "Unknown timezone {value}: use an IANA name such as Europe/Paris or America/Cayenne.",
            value=value,
        ) from None
    return {"timezone": value}


def _set_digest(ctx: Context, value: str) -> dict[str, object]:
    schedule = parse_digest_schedule(value)
    return {"digest_schedule": schedule.stored() if schedule else "off"}


def _set_digest_room(ctx: Context, value: str) -> dict[str, object]:
    if fold(value) in OFF_WORDS:
        return {"digest_room": ""}
    if not ROOM_PATTERN.match(value):
        raise UserError(
            "{value} is not a room ID or address: use e.g. !abcdef:example.org or "
            "#organisation:example.org.",
            value=value,
        )
    return {"digest_room": value}


def _set_event_reminders(ctx: Context, value: str) -> dict[str, object]:
    return {"event_reminders": _offsets(value, ctx.language)}


def _set_deadline_reminders(ctx: Context, value: str) -> dict[str, object]:
    return {"deadline_reminders": _offsets(value, ctx.language)}


def _set_organisers(ctx: Context, value: str) -> dict[str, object]:
    if not value.isdigit() or not 0 <= int(value) <= 100:
        raise UserError(
            "The organiser threshold is a power level from 0 to 100 (e.g. 50), not {value}.",
            value=value,
        )
    return {"organiser_power_level": int(value)}


def _set_synonym(ctx: Context, value: str) -> dict[str, object]:
    synonyms = dict(ctx.room.tag_synonyms)
    try:
        alias, canonical = parse_synonym_setting(value)
    except TagError as error:
        raise UserError(error.message) from None
    synonyms[alias] = canonical
    return {"tag_synonyms": synonyms}


ON_WORDS = frozenset({"on", "oui", "yes", "activé", "actif", "active"})
MAX_NUDGE_ROOM = 10_000


def _set_web_pages(ctx: Context, value: str) -> dict[str, object]:
    folded = fold(value)
    if folded in {fold(word) for word in ON_WORDS}:
        return {"web_pages": True}
    if folded in {fold(word) for word in OFF_WORDS}:
        return {"web_pages": False}
    raise UserError(
        "Write {on} to serve this room's web pages (calendar feed, proposals, digests) or {off} "
        "to stop, not {value}.",
        on="on",
        off="off",
        value=value,
    )


def _set_nudges(ctx: Context, value: str) -> dict[str, object]:
    """``on``, ``off`` or ``on 50`` (no nudge in rooms of more than 50 members)."""
    words = value.split()
    switch = fold(words[0]) if words else ""
    if switch in OFF_WORDS and len(words) == 1:
        return {"nudges": False}
    if switch in ON_WORDS and len(words) == 1:
        return {"nudges": True}
    sized = len(words) == 2 and words[1].isdigit() and 2 <= int(words[1]) <= MAX_NUDGE_ROOM
    if switch in ON_WORDS and sized:
        return {"nudges": True, "nudge_max_members": int(words[1])}
    raise UserError(
        "Nudges are on or off, with at most how many members a room may have for them, "
        "e.g. {on}, {sized} or {off}.",
        on="!réglages relances on",
        sized="!réglages relances on 50",
        off="!réglages relances off",
    )


@dataclass(frozen=True)
class Setting:
    name: str  # French, as typed
    aliases: tuple[str, ...]
    setter: Setter
    example: str


SETTINGS = [
    Setting("langue", ("language",), _set_language, "langue en"),
    Setting("fuseau", ("timezone",), _set_timezone, "fuseau Europe/Paris"),
    Setting("résumé", ("digest",), _set_digest, "résumé vendredi 17h"),
    Setting("salon-résumé", ("digest-room",), _set_digest_room, "salon-résumé #orga:example.org"),
    Setting(
        "rappels-événement", ("event-reminders",), _set_event_reminders,
        "rappels-événement 7j, 1j, 1h",
    ),
    Setting(
        "rappels-échéance", ("deadline-reminders",), _set_deadline_reminders,
        "rappels-échéance 14j, 3j, 1j",
    ),
    Setting("organisateurs", ("organisers", "organizers"), _set_organisers, "organisateurs 50"),
    Setting("synonyme", ("synonym",), _set_synonym, "synonyme #ess = #économiesociale"),
    Setting("pages-web", ("web-pages",), _set_web_pages, "pages-web on"),
    Setting("relances", ("nudges",), _set_nudges, "relances on"),
]  # fmt: skip


def find_setting(name: str) -> Setting | None:
    folded = fold(name)
    for setting in SETTINGS:
        if folded in {fold(n) for n in (setting.name, *setting.aliases)}:
            return setting
    return None


@dataclass(frozen=True)
class Change:
    """What `!réglages <réglage> <valeur>` asks for: the setting and its values, read."""

    setting: Setting
    values: dict[str, object]


def read_change(ctx: Context) -> Change | None:
    """`!réglages` arguments: nothing to see the settings, or a setting and a valid value."""
    if not ctx.args:
        return None
    parts = ctx.args.split(None, 1)
    setting = find_setting(parts[0])
    if setting is None:
        raise UserError(
            "Unknown setting {name}. Settings: {names}.",
            name=parts[0],
            names=", ".join(s.name for s in SETTINGS),
        )
    if len(parts) < 2:
        raise UserError("Give a value, e.g. {example}.", example="!réglages " + setting.example)
    return Change(setting, setting.setter(ctx, parts[1].strip()))


async def reglages(ctx: Context, listeners: Sequence[SettingsListener]) -> None:
    change: Change | None = ctx.arguments
    if change is None:
        room = ctx.room
        ctx.reply_template(
            "settings_view",
            language=room.language,
            timezone=room.timezone,
            digest=room.digest_schedule,
            digest_room=room.digest_room,
            event_reminders=room.event_reminders,
            deadline_reminders=room.deadline_reminders,
            organisers=room.organiser_power_level,
            synonyms=sorted(room.tag_synonyms.items()),
            web_pages=room.web_pages,
            nudges=room.nudges,
            nudge_max_members=room.nudge_max_members,
        )
        return
    if not await ctx.is_organiser():
        raise UserError(
            "Only organisers (power level {level} or more) can change settings; "
            "everyone can see them with {command}.",
            level=ctx.room.organiser_power_level,
            command="!réglages",
        )
    values = change.values
    RoomSettingsRepository(ctx.session).update(ctx.room_id, **values)
    for listener in listeners:  # e.g. the digest task follows its schedule
        listener(ctx, values)
    if "language" in values:
        ctx.use_language(str(values["language"]))  # confirm in the new language
    if values.get("web_pages") is True:
        ctx.reply(
            "This room's web pages are on: its calendar feed, proposals page and digest "
            "archive are served to anyone who has their links ({commands}). Careful: in an "
            "encrypted room, what they show leaves end-to-end encryption (the bot's server "
            "serves it in clear). Turn them off with {off}.",
            commands="!agenda abonnement, !propositions lien, !résumé lien",
            off="!réglages pages-web off",
        )
        return
    if values.get("web_pages") is False:
        ctx.reply(
            "This room's web pages are off: their links answer nothing any more. Turn them on "
            "again with {on}.",
            on="!réglages pages-web on",
        )
        return
    ctx.reply("Setting {name} changed.", name=change.setting.name)


def feature(services: Services) -> Feature:
    """`!réglages`; what depends on a setting listens through ``services.links``."""
    listeners = services.links.settings_listeners

    async def handler(ctx: Context) -> None:
        await reglages(ctx, listeners)

    return Feature(commands=commands(handler))


def commands(handler: Handler) -> list[Command]:
    return [
        Command(
            name="réglages",
            aliases=("reglages", "settings"),
            handler=handler,
            arguments=read_change,
            summary=N_("see this room's settings; organisers can change them"),
            usage=N_("[setting value]"),
            examples=(
                N_("settings"),
                N_("settings language en"),
                N_("settings digest friday 17:00"),
            ),
            details=N_(
                "Settings: langue fr|en, fuseau <IANA timezone>, résumé <day> <time> | off, "
                "salon-résumé <room>, rappels-événement <offsets>, rappels-échéance <offsets>, "
                "organisateurs <power level>, synonyme #tag = #canonical, pages-web on|off "
                "(web pages of the room; an encrypted room's are off until turned on), "
                "relances on [max members] | off."
            ),
        )
    ]
