"""Typed configuration: a TOML file, a `.env` file and `CONCERTO_<SECTION>_<KEY>` overrides.

Loading never has side effects (no folders created, no logging set up): it returns a
`Config` or raises `ConfigError` listing every problem by key, so `concerto check-config`
can explain all mistakes at once.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.text.i18n import SUPPORTED_LANGUAGES

ENV_PREFIX = "CONCERTO_"
SECRET_KEYS = {("matrix", "password"), ("matrix", "access_token")}
USER_ID_PATTERN = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:\d+)?$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# A room's digest of a week is due by Thursday 12:00 after it at the latest (the week most of
# its seven days fall in), 84 hours after the week ends: waiting longer would change nothing.
MAX_SHARED_DIGEST_WAIT_HOURS = 84


@dataclass(frozen=True)
class MatrixConfig:
    homeserver: str = ""
    user_id: str = ""
    password: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    device_id: str = ""
    device_name: str = "concerto"


@dataclass(frozen=True)
class BotConfig:
    command_prefix: str = "!"
    allowed_inviters: tuple[str, ...] = ()
    language: str = "fr"
    timezone: str = "Europe/Paris"
    organiser_power_level: int = 50
    digest_room: str = ""
    shared_digest_wait_hours: int = 12
    commands_per_minute: int = 60
    max_waiting_commands: int = 100


@dataclass(frozen=True)
class StorageConfig:
    data_dir: str = "data"
    database_url: str = ""


@dataclass(frozen=True)
class PrivacyConfig:
    retention_days: int = 365


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    format: str = "text"


@dataclass(frozen=True)
class WebConfig:
    # "host:port" the pages and /healthz are served on; empty: no web service (the default)
    listen: str = ""
    # where people reach them (the TLS reverse proxy in front), used in the links the bot gives
    public_url: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.listen)

    def address(self) -> tuple[str, int]:
        """``listen`` as (host, port); only called on a validated configuration."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Config:
    matrix: MatrixConfig
    bot: BotConfig
    storage: StorageConfig
    privacy: PrivacyConfig
    logging: LoggingConfig
    web: WebConfig = field(default_factory=WebConfig)
    source: str = ""

    @property
    def data_path(self) -> Path:
        return Path(self.storage.data_dir)

    @property
    def database_url(self) -> str:
        return self.storage.database_url or f"sqlite:///{self.data_path / 'concerto.db'}"

    def summary(self) -> str:
        """A short description safe to print: no secrets."""
        credential = (
            "access token"
            if self.matrix.access_token
            else ("password" if self.matrix.password else "stored session")
        )
        return "\n".join(
            [
                f"homeserver: {self.matrix.homeserver}",
                f"user: {self.matrix.user_id} (login with {credential})",
                f"allowed inviters: {', '.join(self.bot.allowed_inviters) or '(nobody)'}",
                f"default language/timezone: {self.bot.language} / {self.bot.timezone}",
                f"data dir: {self.storage.data_dir}",
                f"database: {redact_url(self.database_url)}",
            ]
        )


SECTIONS: dict[str, type] = {
    "matrix": MatrixConfig,
    "bot": BotConfig,
    "storage": StorageConfig,
    "privacy": PrivacyConfig,
    "logging": LoggingConfig,
    "web": WebConfig,
}


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(Exception):
    """Every problem found in the configuration, each naming its key."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


class MissingConfigError(ConfigError):
    """No configuration file where one is needed: nothing else can be checked."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__([ConfigProblem(str(path), message)])
        self.path = path
        self.message = message


def redact_url(url: str) -> str:
    """Hide a password in a database URL before showing it."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def load_config(
    path: Path | str, environ: dict[str, str] | None = None, *, explicit: bool = True
) -> Config:
    """Read the TOML file, then `.env` beside the working directory, then the environment.

    A missing file is an error when it was named (``explicit``: ``--config`` or
    ``$CONCERTO_CONFIG``). The default file may be absent only if the environment itself
    configures the homeserver and the bot's account (a deployment configured by environment
    alone); anything else raises `MissingConfigError`.
    """
    path = Path(path)
    problems: list[ConfigProblem] = []
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError([ConfigProblem(str(path), f"not valid TOML: {error}")]) from None
    env = dict(environ if environ is not None else os.environ)
    dotenv_path = Path(".env")
    if environ is None and dotenv_path.exists():
        env = {**{k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}, **env}
    if not path.exists():
        _check_missing_file(path, env, explicit=explicit)
    for name in raw:
        if name not in SECTIONS:
            problems.append(ConfigProblem(name, f"unknown section (known: {', '.join(SECTIONS)})"))
    sections = {
        name: _build_section(name, cls, raw.get(name, {}), env, problems)
        for name, cls in SECTIONS.items()
    }
    config = Config(source=str(path), **sections)
    problems.extend(validate(config))
    if problems:
        raise ConfigError(problems)
    return config


ENVIRONMENT_ONLY = ("CONCERTO_MATRIX_HOMESERVER", "CONCERTO_MATRIX_USER_ID")


def _check_missing_file(path: Path, env: dict[str, str], *, explicit: bool) -> None:
    if explicit:
        raise MissingConfigError(
            path,
            f"configuration file not found: {path}; create it (copy config.example.toml) "
            "or give the right path with --config or CONCERTO_CONFIG",
        )
    if not all(env.get(name) for name in ENVIRONMENT_ONLY):
        raise MissingConfigError(
            path,
            f"configuration file not found: {path}; copy config.example.toml to {path} and edit "
            f"it, or configure by environment alone (set {' and '.join(ENVIRONMENT_ONLY)})",
        )


def _build_section(
    name: str, cls: type, values: Any, env: dict[str, str], problems: list[ConfigProblem]
) -> Any:
    if not isinstance(values, dict):
        problems.append(ConfigProblem(name, "must be a table ([" + name + "])"))
        values = {}
    known = {f.name: f for f in fields(cls)}
    for key in values:
        if key not in known:
            suggestion = _closest(key, list(known))
            hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
            problems.append(ConfigProblem(f"{name}.{key}", f"unknown key{hint}"))
    kwargs: dict[str, Any] = {}
    for key, spec in known.items():
        env_name = f"{ENV_PREFIX}{name.upper()}_{key.upper()}"
        if env_name in env:
            value: Any = _from_env(env[env_name], spec.default)
        elif key in values:
            value = values[key]
        else:
            continue
        coerced = _coerce(value, spec.default)
        if coerced is None:
            expected = _type_name(spec.default)
            problems.append(ConfigProblem(f"{name}.{key}", f"must be {expected}, got {value!r}"))
            continue
        kwargs[key] = coerced
    return cls(**kwargs)


def _from_env(text: str, default: Any) -> Any:
    if isinstance(default, tuple):
        return [item.strip() for item in text.split(",") if item.strip()]
    if isinstance(default, int) and not isinstance(default, bool):
        try:
            return int(text)
        except ValueError:
            return text
    return text


def _coerce(value: Any, default: Any) -> Any:
    if isinstance(default, tuple):
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        return None
    if isinstance(default, bool):
        return value if isinstance(value, bool) else None
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(default, str):
        return value if isinstance(value, str) else None
    return value


def _type_name(default: Any) -> str:
    if isinstance(default, tuple):
        return "a list of strings"
    if isinstance(default, int):
        return "a whole number"
    return "a string"


def _closest(word: str, candidates: list[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def validate(config: Config) -> list[ConfigProblem]:
    """Check values, not just types: URLs, IDs, regexes, languages, timezones, ranges."""
    problems: list[ConfigProblem] = []
    matrix, bot = config.matrix, config.bot
    url = urlparse(matrix.homeserver)
    if not matrix.homeserver:
        problems.append(
            ConfigProblem("matrix.homeserver", "missing (e.g. https://matrix.example.org)")
        )
    elif url.scheme not in ("http", "https") or not url.netloc:
        problems.append(
            ConfigProblem("matrix.homeserver", f"not an http(s) URL: {matrix.homeserver!r}")
        )
    if not matrix.user_id:
        problems.append(ConfigProblem("matrix.user_id", "missing (e.g. @concerto:example.org)"))
    elif not USER_ID_PATTERN.match(matrix.user_id):
        problems.append(
            ConfigProblem("matrix.user_id", f"not a Matrix user ID: {matrix.user_id!r}")
        )
    for secret in ("password", "access_token"):
        value = getattr(matrix, secret)
        if value and value.strip().lower() in {"changeme", "change-me", "secret", "xxx", "..."}:
            problems.append(
                ConfigProblem(f"matrix.{secret}", "is a placeholder: set the real value")
            )
    if not bot.command_prefix or any(ch.isspace() for ch in bot.command_prefix):
        problems.append(ConfigProblem("bot.command_prefix", "must be non-empty, without spaces"))
    for index, pattern in enumerate(bot.allowed_inviters):
        try:
            re.compile(pattern)
        except re.error as error:
            problems.append(
                ConfigProblem(f"bot.allowed_inviters[{index}]", f"invalid regex: {error}")
            )
    if bot.language not in SUPPORTED_LANGUAGES:
        problems.append(
            ConfigProblem("bot.language", f"must be one of {', '.join(SUPPORTED_LANGUAGES)}")
        )
    try:
        ZoneInfo(bot.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            ConfigProblem(
                "bot.timezone", f"unknown IANA timezone {bot.timezone!r} (e.g. Europe/Paris)"
            )
        )
    if not 0 <= bot.organiser_power_level <= 100:
        problems.append(ConfigProblem("bot.organiser_power_level", "must be between 0 and 100"))
    if not 0 <= bot.shared_digest_wait_hours <= MAX_SHARED_DIGEST_WAIT_HOURS:
        problems.append(
            ConfigProblem(
                "bot.shared_digest_wait_hours",
                f"must be between 0 and {MAX_SHARED_DIGEST_WAIT_HOURS} (hours after the week ends)",
            )
        )
    if bot.commands_per_minute < 1:
        problems.append(ConfigProblem("bot.commands_per_minute", "must be at least 1"))
    if bot.max_waiting_commands < 1:
        problems.append(ConfigProblem("bot.max_waiting_commands", "must be at least 1"))
    if config.privacy.retention_days < 1:
        problems.append(ConfigProblem("privacy.retention_days", "must be at least 1"))
    if config.logging.level.upper() not in LOG_LEVELS:
        problems.append(ConfigProblem("logging.level", f"must be one of {', '.join(LOG_LEVELS)}"))
    if config.logging.format not in ("text", "json"):
        problems.append(ConfigProblem("logging.format", "must be 'text' or 'json'"))
    problems.extend(_validate_web(config.web))
    db_url = config.database_url
    if not db_url.startswith(("sqlite:", "postgresql")):
        problems.append(
            ConfigProblem(
                "storage.database_url",
                "must start with sqlite:/// or postgresql+psycopg://",
            )
        )
    return problems


LISTEN_PATTERN = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$")


def _validate_web(web: WebConfig) -> list[ConfigProblem]:
    if not web.listen:
        return []
    problems = []
    match = LISTEN_PATTERN.match(web.listen)
    if match is None or not 0 < int(match.group(2)) < 65536:
        problems.append(
            ConfigProblem("web.listen", f"not host:port: {web.listen!r} (e.g. 127.0.0.1:8080)")
        )
    url = urlparse(web.public_url)
    if not web.public_url:
        problems.append(
            ConfigProblem(
                "web.public_url",
                "missing: the address people reach the pages at, behind your TLS reverse proxy "
                "(e.g. https://concerto.example.org)",
            )
        )
    elif url.scheme not in ("http", "https") or not url.netloc or url.query or url.fragment:
        problems.append(ConfigProblem("web.public_url", f"not an http(s) URL: {web.public_url!r}"))
    return problems
