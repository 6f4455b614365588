"""Configuration: TOML, environment overrides, every mistake explained by key."""

from __future__ import annotations

import pytest

from bot.runtime.config import ConfigError, load_config

VALID = """
[matrix]
homeserver = "https://matrix.example.org"
user_id = "@concerto:example.org"
[bot]
allowed_inviters = ["@.*:example\\\\.org"]
"""


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_environment_overrides(tmp_path):
    config = load_config(
        write(tmp_path, VALID),
        environ={
            "CONCERTO_MATRIX_PASSWORD": "s3cret-value",
            "CONCERTO_BOT_ORGANISER_POWER_LEVEL": "75",
            "CONCERTO_BOT_ALLOWED_INVITERS": "@a:x, @b:y",
        },
    )
    assert config.matrix.password == "s3cret-value"
    assert config.bot.organiser_power_level == 75
    assert config.bot.allowed_inviters == ("@a:x", "@b:y")
    assert config.bot.language == "fr" and config.bot.timezone == "Europe/Paris"
    assert config.database_url.startswith("sqlite:///")
    assert "s3cret-value" not in repr(config) and "s3cret-value" not in config.summary()


def test_every_problem_is_named_by_key(tmp_path):
    text = """
[matrix]
homeserver = "matrix.example.org"
user_id = "concerto"
pasword = "x"
[bot]
language = "de"
timezone = "Europe/Pariss"
organiser_power_level = "50"
allowed_inviters = ["(unclosed"]
[storage]
database_url = "mysql://x"
[surprise]
"""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={})
    keys = {problem.key for problem in caught.value.problems}
    assert keys >= {
        "matrix.homeserver",
        "matrix.user_id",
        "matrix.pasword",
        "bot.language",
        "bot.timezone",
        "bot.organiser_power_level",
        "bot.allowed_inviters[0]",
        "storage.database_url",
        "surprise",
    }
    assert "did you mean 'password'" in str(caught.value)


def test_broken_toml_and_missing_file_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[matrix\n"), environ={})
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml", environ={})


def test_placeholder_secret_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="placeholder"):
        load_config(write(tmp_path, VALID), environ={"CONCERTO_MATRIX_PASSWORD": "changeme"})


def test_example_config_is_valid():
    config = load_config("config.example.toml", environ={})
    assert config.matrix.device_name == "concerto"
