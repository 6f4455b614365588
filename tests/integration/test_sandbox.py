"""`concerto sandbox`: a newcomer gets a homeserver, the bot and a demo login that work."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys

import nio
from matrix_people import Person, joined

from bot.tools.local_homeserver import RegisteredUser, free_port


async def test_sandbox_gives_a_working_bot_and_stops_cleanly(tmp_path):
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, then awaited in a thread
        [
            sys.executable,
            "-m",
            "bot.tools.cli",
            "sandbox",
            "--dir",
            str(tmp_path),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = await asyncio.to_thread(_read_until, process, "Ctrl-C stops everything")
        assert f"http://127.0.0.1:{port}" in banner
        room_id = re.search(r"Demo room:\s+(\S+)", banner).group(1)
        password = json.loads((tmp_path / "sandbox.json").read_text())["demo_password"]

        client = nio.AsyncClient(f"http://127.0.0.1:{port}", "@demo:localhost")
        login = await client.login(password)
        assert isinstance(login, nio.LoginResponse)
        await client.close()
        demo = await Person.start(
            f"http://127.0.0.1:{port}",
            RegisteredUser("@demo:localhost", login.access_token, login.device_id, password),
        )
        try:
            await demo.wait_for(room_id, joined("@concerto:localhost"), timeout=30)
            asked = await demo.send_text(room_id, "!aide")
            reply = await demo.wait_for(
                room_id,
                lambda e: (
                    e.get("sender") == "@concerto:localhost"
                    and "Commandes" in (e.get("content") or {}).get("body", "")
                ),
                timeout=30,
                after=asked,
            )
            assert reply["content"]["msgtype"] == "m.notice"
        finally:
            await demo.close()
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(process.wait, 20)
    assert code == 0
    leftovers = subprocess.run(  # noqa: ASYNC221 - a quick pgrep after the run
        ["pgrep", "-f", f"synapse.app.homeserver.*{tmp_path}"], capture_output=True, text=True
    )
    assert leftovers.stdout.strip() == ""


def _read_until(process: subprocess.Popen[str], marker: str) -> str:
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError("sandbox ended early:\n" + "".join(lines))
