"""The real bot as a separate process, the way a deployer runs it: config file, env secrets.

Tests can stop it politely (SIGTERM), kill it (SIGKILL) and start it again on the same data
directory, which is how restarts without loss or replay are proven.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bot.runtime.config import ENV_PREFIX
from bot.tools.local_homeserver import LocalHomeserver, RegisteredUser
from bot.tools.shipped_config import EXAMPLE, departures, env_name, environment


class BotProcess:
    def __init__(
        self,
        homeserver: LocalHomeserver,
        account: RegisteredUser,
        directory: Path,
        *,
        allowed_inviters: str = "@.*:localhost",
        extra_env: dict[str, str] | None = None,
        database_url: str = "",
    ) -> None:
        self.homeserver = homeserver
        self.account = account
        self.directory = directory
        self.config_path = directory / "config.toml"
        self.log_path = directory / "bot.log"
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None
        # The shipped example itself: only what a deployment sets for itself comes from the
        # environment (see bot.tools.shipped_config), so the tests prove the shipped defaults.
        self.config_path.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
        settings = {
            ("matrix", "homeserver"): homeserver.url,
            ("matrix", "user_id"): account.user_id,
            ("matrix", "device_name"): "concerto-test",
            ("bot", "allowed_inviters"): allowed_inviters,
            ("storage", "data_dir"): str(directory / "data"),
            ("logging", "level"): "DEBUG",
        }
        if database_url:
            settings["storage", "database_url"] = database_url
        self.environment = environment(settings)

    @property
    def user_id(self) -> str:
        return self.account.user_id

    def bot_environ(self) -> dict[str, str]:
        """What the bot's process is configured with besides the config file."""
        return {
            **self.environment,
            env_name("matrix", "password"): self.account.password,
            **self.extra_env,
        }

    def start(self) -> None:
        """Start the bot; refuses a configuration that departs from the shipped defaults."""
        configured = self.bot_environ()
        departed = departures(self.config_path, configured)
        if departed:
            raise AssertionError(f"the test bot departs from config.example.toml: {departed}")
        # The developer's own CONCERTO_* settings must not leak into the bot under test.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env = {**inherited, **configured}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.directory,
        )
        log.close()

    async def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15) -> int:  # noqa: ASYNC109
        """Send ``sig`` and wait for the process to end; returns its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = await asyncio.to_thread(self.process.wait, timeout)
        return code

    async def kill(self) -> None:
        await self.stop(signal.SIGKILL)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Suspend the process (SIGSTOP) for the block, then let it go on (SIGCONT): what
        happens meanwhile reaches the bot all at once, as after a pause of the machine."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    async def wait_exit(self, timeout: float = 30) -> int:  # noqa: ASYNC109
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, timeout)

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")
