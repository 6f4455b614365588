"""The configuration file at start: a named file must exist; the default one may be absent only
when the environment configures the homeserver and the account. A missing file is one line on
standard error and exit code 2, for `run` and `check-config` alike. And `concerto health`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.matrix.sync import HEARTBEAT_FILE, heartbeat_age, touch_heartbeat
from bot.runtime.app import data_dir_problem
from bot.tools.cli import main

FULL_ENVIRONMENT = {
    "CONCERTO_MATRIX_HOMESERVER": "https://matrix.example.org",
    "CONCERTO_MATRIX_USER_ID": "@concerto:example.org",
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No CONCERTO_* variable but those a test sets; an empty working directory."""
    for name in list(os.environ):
        if name.startswith("CONCERTO_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_missing_named_file_is_an_error_whatever_the_environment(environment, capsys, command):
    for name, value in FULL_ENVIRONMENT.items():
        environment.setenv(name, value)
    assert main([command, "--config", "absent.toml"]) == 2
    line = one_line(capsys)
    assert line.startswith("concerto: configuration file not found: absent.toml")
    assert "--config" in line


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_missing_file_named_by_concerto_config_is_an_error(environment, capsys, command):
    for name, value in FULL_ENVIRONMENT.items():
        environment.setenv(name, value)
    environment.setenv("CONCERTO_CONFIG", "elsewhere/config.toml")
    assert main([command]) == 2
    assert "configuration file not found: elsewhere/config.toml" in one_line(capsys)


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_missing_default_file_with_only_some_variables_is_an_error(environment, capsys, command):
    # What the Docker image sets by itself is not a configuration.
    environment.setenv("CONCERTO_STORAGE_DATA_DIR", "/data")
    environment.setenv("CONCERTO_MATRIX_HOMESERVER", "https://matrix.example.org")
    assert main([command]) == 2
    line = one_line(capsys)
    assert "configuration file not found: config.toml" in line
    assert "CONCERTO_MATRIX_HOMESERVER and CONCERTO_MATRIX_USER_ID" in line


def test_environment_alone_configures_the_bot_without_a_default_file(environment, capsys):
    for name, value in FULL_ENVIRONMENT.items():
        environment.setenv(name, value)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("environment: configuration is valid.")
    assert "@concerto:example.org" in out


def test_health_follows_the_heartbeat(environment, capsys, tmp_path: Path):
    for name, value in FULL_ENVIRONMENT.items():
        environment.setenv(name, value)
    environment.setenv("CONCERTO_STORAGE_DATA_DIR", str(tmp_path))
    assert heartbeat_age(tmp_path) is None
    assert main(["health"]) == 1
    assert "no heartbeat yet" in capsys.readouterr().err

    touch_heartbeat(tmp_path)
    assert main(["health"]) == 0
    assert capsys.readouterr().out.startswith("healthy")

    old = time.time() - 300
    os.utime(tmp_path / HEARTBEAT_FILE, (old, old))
    assert main(["health"]) == 1
    assert "last sync 300 s ago" in capsys.readouterr().err
    assert main(["health", "--max-age", "600"]) == 0


def test_data_dir_problem_names_the_uid_to_own_it(tmp_path: Path):
    assert data_dir_problem(tmp_path / "fresh") is None
    assert (tmp_path / "fresh").is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("")
    problem = data_dir_problem(blocker / "data")
    assert problem is not None
    assert f"make it owned by uid {os.getuid()}" in problem
    assert "\n" not in problem
