"""The shipped configuration as test environments, benchmarks and the sandbox run it.

They run `config.example.toml` itself, unchanged, and set through the environment only what a
deployment must choose for itself: the homeserver, the accounts, who may invite the bot, the
shared digest room, where data lives, how much is logged, and where the web service (off by
default) listens and is reached. Every other value — pacing,
reminders, retention, digests — is the shipped default, so what the tests prove and what the
benchmarks measure is what a deployer gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from bot.runtime.config import ENV_PREFIX, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"

# (section, key) a test environment may set; everything else keeps the example's value.
ENVIRONMENT_KEYS = frozenset(
    {
        ("matrix", "homeserver"),
        ("matrix", "user_id"),
        ("matrix", "password"),
        ("matrix", "access_token"),
        ("matrix", "device_id"),
        ("matrix", "device_name"),
        ("bot", "allowed_inviters"),
        ("bot", "digest_room"),
        ("storage", "data_dir"),
        ("storage", "database_url"),
        ("logging", "level"),
        ("logging", "format"),
        ("web", "listen"),
        ("web", "public_url"),
    }
)


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def environment(values: Mapping[tuple[str, str], str]) -> dict[str, str]:
    """The environment variables that set these keys (lists comma-separated).

    Raises ValueError for a key a test environment has no business changing.
    """
    foreign = sorted(
        f"{section}.{key}" for section, key in values if (section, key) not in ENVIRONMENT_KEYS
    )
    if foreign:
        raise ValueError(f"not an environment key (the shipped default must be kept): {foreign}")
    return {env_name(section, key): value for (section, key), value in values.items()}


def departures(config_path: Path, environ: Mapping[str, str]) -> list[str]:
    """The keys whose value, as the bot would load it, differs from the shipped example's,
    besides the environment keys: a test environment must leave this empty."""
    shipped = load_config(EXAMPLE, environ={})
    actual = load_config(config_path, environ=dict(environ))
    found = []
    for section, values in asdict(actual).items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if (section, key) in ENVIRONMENT_KEYS:
                continue
            if getattr(getattr(shipped, section), key) != value:
                found.append(f"{section}.{key}")
    return found
