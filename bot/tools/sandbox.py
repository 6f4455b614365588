"""`concerto sandbox`: a throwaway homeserver, the bot and a demo account, to try Concerto.

Everything lives in one folder (default `.sandbox`); Ctrl-C stops the bot and the homeserver
and leaves nothing running. Running it again reuses the same accounts and room.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from pathlib import Path

import nio

from bot.runtime.app import App
from bot.runtime.config import load_config
from bot.runtime.logs import setup_logging

log = logging.getLogger(__name__)

BOT_LOCALPART = "concerto"
DEMO_LOCALPART = "demo"
STATE_FILE = "sandbox.json"


def run_sandbox(directory: Path, *, port: int = 8008) -> int:
    from bot.tools.local_homeserver import HomeserverError, LocalHomeserver

    directory.mkdir(parents=True, exist_ok=True)
    homeserver = LocalHomeserver(directory / "homeserver", port=port)
    try:
        homeserver.start()
    except HomeserverError as error:
        print(f"Could not start the sandbox homeserver: {error}")
        return 1
    try:
        state = _accounts(directory, homeserver)
        config_path = directory / "config.toml"
        config_path.write_text(_config_text(homeserver.url, homeserver.server_name, directory))
        config = load_config(
            config_path, environ={"CONCERTO_MATRIX_PASSWORD": state["bot_password"]}
        )
        setup_logging("INFO", "text", [state["bot_password"], state["demo_password"]])
        room_id = asyncio.run(_demo_room(homeserver.url, homeserver.server_name, state))
        state["room_id"] = room_id
        (directory / STATE_FILE).write_text(json.dumps(state))
        print(
            "\nConcerto sandbox is running.\n"
            f"  Homeserver:   {homeserver.url}\n"
            f"  Demo login:   {DEMO_LOCALPART} / {state['demo_password']}"
            f"  (user @{DEMO_LOCALPART}:{homeserver.server_name})\n"
            f"  Demo room:    {room_id} (the bot is in it: type !aide)\n"
            "  Any Matrix client on this machine can log in with these. Ctrl-C stops everything.\n",
            flush=True,
        )
        return asyncio.run(App(config).run())
    except KeyboardInterrupt:
        return 0
    finally:
        homeserver.stop()


def _accounts(directory: Path, homeserver: object) -> dict[str, str]:
    """Register the bot and demo accounts once; keep their passwords for later runs."""
    path = directory / STATE_FILE
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    state = {
        "bot_password": secrets.token_urlsafe(12),
        "demo_password": secrets.token_urlsafe(9),
    }
    homeserver.register(BOT_LOCALPART, state["bot_password"])  # type: ignore[attr-defined]
    homeserver.register(DEMO_LOCALPART, state["demo_password"])  # type: ignore[attr-defined]
    path.write_text(json.dumps(state))
    path.chmod(0o600)
    return state


def _config_text(url: str, server_name: str, directory: Path) -> str:
    inviters = "@.*:" + server_name.replace(".", "\\\\.")  # a TOML string holding a regex
    return f"""# Written by `concerto sandbox`: a throwaway setup, do not use in production.
[matrix]
homeserver = "{url}"
user_id = "@{BOT_LOCALPART}:{server_name}"
device_name = "concerto-sandbox"

[bot]
allowed_inviters = ["{inviters}"]
language = "fr"
timezone = "Europe/Paris"

[storage]
data_dir = "{(directory / "data").resolve()}"
"""


async def _demo_room(url: str, server_name: str, state: dict[str, str]) -> str:
    """The demo account creates (once) a room and invites the bot; the bot joins on start."""
    client = nio.AsyncClient(url, f"@{DEMO_LOCALPART}:{server_name}")
    try:
        login = await client.login(state["demo_password"], device_name="sandbox-setup")
        if not isinstance(login, nio.LoginResponse):
            raise RuntimeError(f"demo login failed: {login}")
        if state.get("room_id"):
            return state["room_id"]
        response = await client.room_create(
            name="Concerto — salon de démonstration",
            invite=[f"@{BOT_LOCALPART}:{server_name}"],
        )
        if not isinstance(response, nio.RoomCreateResponse):
            raise RuntimeError(f"room creation failed: {response}")
        return str(response.room_id)
    finally:
        await client.close()
