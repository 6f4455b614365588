"""The bot under test runs config.example.toml as shipped: the harness refuses anything else."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from concerto_bot import BotProcess

from bot.tools.local_homeserver import RegisteredUser
from bot.tools.shipped_config import departures


def test_test_bots_run_the_shipped_example_and_refuse_a_departure(tmp_path):
    homeserver = SimpleNamespace(url="http://127.0.0.1:1")
    account = RegisteredUser("@concerto:localhost", "token", "DEVICE", "pw")
    bot = BotProcess(homeserver, account, tmp_path)  # type: ignore[arg-type]
    assert departures(bot.config_path, bot.bot_environ()) == []
    bot.extra_env["CONCERTO_BOT_COMMANDS_PER_MINUTE"] = "1000"
    with pytest.raises(AssertionError, match=r"bot\.commands_per_minute"):
        bot.start()
    assert not bot.is_running()
