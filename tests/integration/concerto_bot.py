"""The real bot as a separate process, the way a deployer runs it: config file, env secrets.

Tests can stop it politely (SIGTERM), kill it (SIGKILL) and start it again on the same data
directory, which is how restarts without loss or replay are proven.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.local_homeserver import LocalHomeserver, RegisteredUser


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
        db_line = f'database_url = "{database_url}"' if database_url else ""
        self.config_path.write_text(
            f"""
[matrix]
homeserver = "{homeserver.url}"
user_id = "{account.user_id}"
device_name = "concerto-test"

[bot]
allowed_inviters = ["{allowed_inviters}"]
commands_per_minute = 1000

[storage]
data_dir = "{directory / "data"}"
{db_line}

[logging]
level = "DEBUG"
""",
            encoding="utf-8",
        )

    @property
    def user_id(self) -> str:
        return self.account.user_id

    def start(self) -> None:
        env = {
            **os.environ,
            "CONCERTO_MATRIX_PASSWORD": self.account.password,
            **self.extra_env,
        }
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

    async def wait_exit(self, timeout: float = 30) -> int:  # noqa: ASYNC109
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, timeout)

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")
