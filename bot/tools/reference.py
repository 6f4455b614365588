"""`concerto reference`: the command, settings and configuration tables, taken from the code.

The reference pages (``docs/fr/reference.md``, ``docs/en/reference.md``) hold this output
between two markers; a unit test regenerates it and compares, so a renamed command, setting
or configuration key cannot leave the documentation behind.

The command registry is built the way the bot builds it (``bot.runtime.builder.build_features``),
without a database, a homeserver or a running bot: features only declare their commands when
built, and the services they would use later are stand-ins that refuse any use.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from bot.runtime.builder import build_features
from bot.runtime.clock import SystemClock
from bot.runtime.config import (
    ENV_PREFIX,
    SECRET_KEYS,
    SECTIONS,
    BotConfig,
    Config,
    LoggingConfig,
    MatrixConfig,
    PrivacyConfig,
    StorageConfig,
)
from bot.runtime.kit import Services
from bot.runtime.messages import MessageRenderer
from bot.runtime.router import Command, Permission, Registry
from bot.text.i18n import SUPPORTED_LANGUAGES, Translations, Translator
from handlers.settings.commands import SETTINGS

BEGIN = "<!-- generated: do not edit (concerto reference --language {language}) -->"
END = "<!-- end of generated part -->"

# Labels of the reference pages themselves (documentation, not chat messages).
LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "commands": "Commandes",
        "commands_intro": (
            "Tapez la commande au début d'un message. Les accents et les majuscules des noms "
            "sont facultatifs ; les noms anglais marchent dans tous les salons. Les réponses "
            "sont dans la langue du salon."
        ),
        "command": "Commande",
        "aliases": "Autres noms",
        "usage": "Syntaxe",
        "who": "Qui",
        "what": "Ce qu'elle fait",
        "examples": "Exemples",
        "everyone": "tout le monde",
        "organisers": "organisateurs",
        "settings": "Réglages du salon",
        "settings_intro": (
            "Tout le monde voit les réglages avec `!réglages` ; les organisateurs en changent "
            "un avec `!réglages <réglage> <valeur>`."
        ),
        "setting": "Réglage",
        "example": "Exemple",
        "is": "Ce que c'est",
        "config": "Configuration",
        "config_intro": (
            "Clés du fichier TOML (`config.example.toml`) ; chacune peut être remplacée par "
            "sa variable d'environnement (listes : valeurs séparées par des virgules)."
        ),
        "key": "Clé",
        "env": "Variable d'environnement",
        "type": "Type",
        "default": "Défaut",
        "text": "texte",
        "secret": "texte secret",
        "number": "nombre entier",
        "list": "liste de textes",
        "sqlite_default": "SQLite dans le dossier de données",
    },
    "en": {
        "commands": "Commands",
        "commands_intro": (
            "Type the command at the start of a message. Accents and case in names are "
            "optional; French and English names work in every room. Replies are in the "
            "room's language."
        ),
        "command": "Command",
        "aliases": "Other names",
        "usage": "Usage",
        "who": "Who",
        "what": "What it does",
        "examples": "Examples",
        "everyone": "everyone",
        "organisers": "organisers",
        "settings": "Room settings",
        "settings_intro": (
            "Everyone sees the settings with `!settings`; organisers change one with "
            "`!settings <setting> <value>`."
        ),
        "setting": "Setting",
        "example": "Example",
        "is": "What it is",
        "config": "Configuration",
        "config_intro": (
            "Keys of the TOML file (`config.example.toml`); each can be overridden by its "
            "environment variable (lists: comma-separated values)."
        ),
        "key": "Key",
        "env": "Environment variable",
        "type": "Type",
        "default": "Default",
        "text": "text",
        "secret": "secret text",
        "number": "whole number",
        "list": "list of texts",
        "sqlite_default": "SQLite in the data dir",
    },
}

# What each room setting is, as `!réglages` shows it (msgids of the settings_view template).
SETTING_LABELS = {
    "langue": "language",
    "fuseau": "timezone",
    "résumé": "weekly digest",
    "salon-résumé": "shared digest room",
    "rappels-événement": "event reminders",
    "rappels-échéance": "deadline reminders",
    "organisateurs": "organisers from power level",
    "synonyme": "tag synonyms",
}


class _NotRunning:
    """Stands in for the database, outbox, timers and gateway: the reference never runs a
    command, so any use of these is a mistake worth a clear error."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise RuntimeError(f"the reference builds commands without a running bot ({self._name})")


def command_list(prefix: str = "!") -> list[Command]:
    """Every chat command, in help order, as the running bot declares them."""
    config = Config(
        matrix=MatrixConfig(),
        bot=BotConfig(command_prefix=prefix),
        storage=StorageConfig(),
        privacy=PrivacyConfig(),
        logging=LoggingConfig(),
    )
    translations = Translations()
    services = Services(
        config,
        _NotRunning("database"),  # type: ignore[arg-type]
        SystemClock(),
        _NotRunning("outbox"),  # type: ignore[arg-type]
        _NotRunning("timers"),  # type: ignore[arg-type]
        MessageRenderer(translations),
        translations,
        _NotRunning("gateway"),
    )
    registry_box: list[Registry] = []
    features = build_features(services, lambda: registry_box[0])
    commands = [command for feature in features for command in feature.commands]
    registry_box.append(Registry(commands))  # refuses a name declared twice, as the bot does
    return commands


def config_keys() -> list[tuple[str, str, Any]]:
    """(section, key, default) of every configuration key, in file order."""
    return [
        (section, spec.name, spec.default)
        for section, cls in SECTIONS.items()
        for spec in fields(cls)
    ]


def env_var(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text)}`" if text else ""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _toml_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(f'"{item}"' for item in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _type_label(section: str, key: str, default: Any, labels: dict[str, str]) -> str:
    if (section, key) in SECRET_KEYS:
        return labels["secret"]
    if isinstance(default, tuple):
        return labels["list"]
    if isinstance(default, int):
        return labels["number"]
    return labels["text"]


def _command_rows(commands: list[Command], prefix: str, translator: Translator) -> list[list[str]]:
    labels = LABELS[translator.language]
    rows = []
    for command in commands:
        usage = translator.gettext(command.usage) if command.usage else ""
        who = (
            labels["organisers"]
            if command.permission is Permission.ORGANISERS
            else labels["everyone"]
        )
        examples = "<br>".join(
            _code(prefix + translator.gettext(example)) for example in command.examples
        )
        rows.append(
            [
                _code(prefix + command.name),
                ", ".join(_code(prefix + alias) for alias in command.aliases),
                _code(usage),
                who,
                _cell(translator.gettext(command.summary)),
                examples,
            ]
        )
    return rows


def render_reference(language: str, prefix: str = "!") -> str:
    """The generated Markdown of one language (what sits between the markers)."""
    if language not in SUPPORTED_LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    labels = LABELS[language]
    translator = Translations().for_language(language)
    lines = [f"## {labels['commands']}", "", labels["commands_intro"], ""]
    lines += _table(
        [labels[name] for name in ("command", "aliases", "usage", "who", "what", "examples")],
        _command_rows(command_list(prefix), prefix, translator),
    )
    lines += ["", f"## {labels['settings']}", "", labels["settings_intro"], ""]
    setting_rows = [
        [
            _code(setting.name),
            ", ".join(_code(alias) for alias in setting.aliases),
            _cell(translator.gettext(SETTING_LABELS.get(setting.name, ""))),
            _code(f"{prefix}réglages {setting.example}"),
        ]
        for setting in SETTINGS
    ]
    lines += _table(
        [labels[name] for name in ("setting", "aliases", "is", "example")], setting_rows
    )
    lines += ["", f"## {labels['config']}", "", labels["config_intro"], ""]
    config_rows = []
    for section, key, default in config_keys():
        shown = _code(_toml_value(default))
        if (section, key) == ("storage", "database_url"):
            shown += f" ({labels['sqlite_default']})"
        config_rows.append(
            [
                _code(f"{section}.{key}"),
                _code(env_var(section, key)),
                _type_label(section, key, default, labels),
                shown,
            ]
        )
    lines += _table([labels[name] for name in ("key", "env", "type", "default")], config_rows)
    return "\n".join(lines) + "\n"


def generated_part(text: str, language: str) -> str | None:
    """The generated Markdown found between the markers of a reference page, if any."""
    begin = BEGIN.format(language=language)
    if begin not in text or END not in text:
        return None
    return text.split(begin, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def update_page(text: str, language: str) -> str:
    """The page with its generated part replaced (appended when it has no markers)."""
    begin = BEGIN.format(language=language)
    block = f"{begin}\n\n{render_reference(language)}\n{END}"
    if begin in text and END in text:
        head = text.split(begin, 1)[0]
        tail = text.split(begin, 1)[1].split(END, 1)[1]
        return head + block + tail
    return text.rstrip("\n") + "\n\n" + block + "\n"


def update_file(path: Path, language: str) -> bool:
    """Rewrite the generated part of a reference page; True when it changed."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    new = update_page(old, language)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old
