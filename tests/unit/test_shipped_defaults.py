"""The code's defaults are the shipped example's, and a test environment can only change what a
deployment sets for itself."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from bot.runtime.config import SECTIONS, load_config
from bot.tools.shipped_config import ENVIRONMENT_KEYS, EXAMPLE, departures, env_name, environment


def test_code_defaults_are_the_shipped_example():
    shipped = asdict(load_config(EXAMPLE, environ={}))
    for section, cls in SECTIONS.items():
        for key, default in asdict(cls()).items():
            if (section, key) in ENVIRONMENT_KEYS or section == "matrix":
                continue
            value = shipped[section][key]
            assert value == default, f"{section}.{key}: example {value!r}, code {default!r}"


def test_environment_keys_are_accepted_and_other_keys_refused():
    env = environment({("storage", "data_dir"): "/tmp/x", ("matrix", "user_id"): "@b:x"})
    assert env == {"CONCERTO_STORAGE_DATA_DIR": "/tmp/x", "CONCERTO_MATRIX_USER_ID": "@b:x"}
    with pytest.raises(ValueError, match="commands_per_minute"):
        environment({("bot", "commands_per_minute"): "1000"})


def test_a_departure_from_the_example_is_found(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    assert departures(config, {env_name("storage", "data_dir"): str(tmp_path)}) == []
    raised = {env_name("bot", "commands_per_minute"): "1000"}
    assert departures(config, raised) == ["bot.commands_per_minute"]
    config.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("retention_days = 365", "retention_days = 7"),
        encoding="utf-8",
    )
    assert departures(config, {}) == ["privacy.retention_days"]
