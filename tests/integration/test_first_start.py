"""What a deployer sees when the bot cannot start or its session ends: one line saying what to
do, exit code 2, no traceback, never a login loop; and a soft logout survived on the same
device. Against the real Synapse, with the real bot process."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from concerto_bot import BotProcess
from matrix_people import Person, joined, reply_to
from synapse_admin import admin_call, devices

from bot.tools.local_homeserver import LocalHomeserver, free_port, synapse_installed
from bot.tools.shipped_config import env_name


def stopped_with_one_line(bot: BotProcess, expected: str) -> str:
    """The bot's output holds exactly one error line, containing ``expected``; it is returned."""
    log = bot.log_text()
    assert "Traceback" not in log
    assert "Unclosed client session" not in log
    assert bot.account.password not in log
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, errors
    assert expected in errors[0], errors[0]
    return errors[0]


async def wait_for_log(bot: BotProcess, text: str, timeout: float = 60) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while text not in bot.log_text():
        assert bot.is_running(), f"the bot stopped:\n{bot.log_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in the bot's log"
        await asyncio.sleep(0.2)


async def running_bot(homeserver, make_user, tmp_path: Path, **env: str) -> BotProcess:
    account = await make_user("concerto")
    bot = BotProcess(homeserver, account, tmp_path, extra_env=env)
    bot.start()
    return bot


# --- first start -----------------------------------------------------------------------------


async def test_unreachable_homeserver_stops_with_one_line(homeserver, make_user, tmp_path):
    nowhere = f"http://127.0.0.1:{free_port()}"
    bot = await running_bot(
        homeserver, make_user, tmp_path, **{env_name("matrix", "homeserver"): nowhere}
    )
    assert await bot.wait_exit(timeout=30) == 2
    line = stopped_with_one_line(bot, f"cannot reach the homeserver {nowhere}")
    assert "check matrix.homeserver" in line


async def test_wrong_password_stops_with_one_line(homeserver, make_user, tmp_path):
    bot = await running_bot(
        homeserver, make_user, tmp_path, **{env_name("matrix", "password"): "not-the-password"}
    )
    assert await bot.wait_exit(timeout=30) == 2
    stopped_with_one_line(bot, "refused the password")
    assert "not-the-password" not in bot.log_text()


async def test_deactivated_account_stops_with_one_line(homeserver, make_user, tmp_path):
    admin = await make_user("admin", admin=True)
    account = await make_user("concerto")
    admin_call(
        homeserver,
        admin.access_token,
        "POST",
        f"/_synapse/admin/v1/deactivate/{quote(account.user_id)}",
        {"erase": False},
    )
    # Synapse forgets a deactivated account's password, so a login would only say "wrong
    # password"; with a password still set (other auth providers), it says "deactivated".
    admin_call(
        homeserver,
        admin.access_token,
        "PUT",
        f"/_synapse/admin/v2/users/{quote(account.user_id)}",
        {"password": account.password, "logout_devices": False},
    )
    bot = BotProcess(homeserver, account, tmp_path)
    bot.start()
    assert await bot.wait_exit(timeout=30) == 2
    stopped_with_one_line(bot, f"the account {account.user_id} is deactivated")


async def test_data_dir_not_writable_names_the_uid(homeserver, make_user, tmp_path):
    # A file where a folder should be: refused even to root (who may write anywhere).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    bot = await running_bot(
        homeserver,
        make_user,
        tmp_path,
        **{env_name("storage", "data_dir"): str(blocker / "data")},
    )
    assert await bot.wait_exit(timeout=30) == 2
    line = stopped_with_one_line(bot, f"the data dir {blocker / 'data'} is not writable")
    assert "make it owned by uid" in line


async def test_access_token_and_device_id_from_the_admin_tool_are_enough(
    homeserver, make_user, make_person, tmp_path
):
    """A token issued elsewhere (here: at registration) with its device, and no password."""
    account = await make_user("concerto")
    bot = BotProcess(
        homeserver,
        account,
        tmp_path,
        extra_env={
            env_name("matrix", "password"): "",
            env_name("matrix", "access_token"): account.access_token,
            env_name("matrix", "device_id"): account.device_id,
        },
    )
    bot.start()
    organiser = await make_person("organiser")
    room_id = await organiser.create_room("Jeton", invite=[bot.user_id])
    await organiser.wait_for(room_id, joined(bot.user_id), timeout=30)
    asked = await organiser.send_text(room_id, "!aide")
    await organiser.wait_for(room_id, reply_to(bot.user_id, asked), timeout=30)
    stored = json.loads((tmp_path / "data" / "credentials.json").read_text())
    assert stored["device_id"] == account.device_id
    assert (tmp_path / "data" / "heartbeat").exists()  # what the Docker health check reads
    assert await bot.stop() == 0
    assert account.access_token not in bot.log_text()


async def test_access_token_of_another_device_is_refused(homeserver, make_user, tmp_path):
    account = await make_user("concerto")
    bot = BotProcess(
        homeserver,
        account,
        tmp_path,
        extra_env={
            env_name("matrix", "password"): "",
            env_name("matrix", "access_token"): account.access_token,
            env_name("matrix", "device_id"): "NOTTHISONE",
        },
    )
    bot.start()
    assert await bot.wait_exit(timeout=30) == 2
    line = stopped_with_one_line(bot, "matrix.device_id is NOTTHISONE")
    assert f"CONCERTO_MATRIX_DEVICE_ID={account.device_id}" in line


# --- a session that ends while running -------------------------------------------------------


async def test_device_deleted_while_running_stops_without_a_new_login(
    bot_room, make_user, homeserver
):
    bot, organiser, room_id = bot_room
    asked = await organiser.send_text(room_id, "!aide")
    await organiser.wait_for(room_id, reply_to(bot.user_id, asked), timeout=30)
    device = json.loads((bot.directory / "data" / "credentials.json").read_text())["device_id"]
    admin = await make_user("admin", admin=True)
    admin_call(
        homeserver,
        admin.access_token,
        "DELETE",
        f"/_synapse/admin/v2/users/{quote(bot.user_id)}/devices/{device}",
    )
    left = devices(homeserver, admin.access_token, bot.user_id)
    await organiser.send_text(room_id, "réveil")  # ends the bot's long poll at once

    assert await bot.wait_exit(timeout=60) == 2  # the password is in its environment
    stopped_with_one_line(bot, "the homeserver signed the bot out")
    assert devices(homeserver, admin.access_token, bot.user_id) == left

    # Started again as is, it stops the same way: still no new device.
    bot.log_path.unlink()
    bot.start()
    assert await bot.wait_exit(timeout=30) == 2
    stopped_with_one_line(bot, "rejected the stored access token")
    assert devices(homeserver, admin.access_token, bot.user_id) == left


# --- soft logout -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def expiring_homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHomeserver]:
    """A homeserver of its own whose tokens expire after 20 s (soft logout), so the others'
    tokens do not."""
    if not synapse_installed():
        pytest.skip("Synapse is needed")
    server = LocalHomeserver(tmp_path_factory.mktemp("expiring"), token_lifetime="20s")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def register(homeserver: LocalHomeserver, name: str, *, admin: bool = False):
    return homeserver.register(f"{name}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, admin=admin)


async def test_soft_logout_logs_in_again_on_the_same_device(expiring_homeserver, tmp_path):
    server = expiring_homeserver
    account = register(server, "concerto")
    bot = BotProcess(server, account, tmp_path)
    bot.start()
    try:
        await wait_for_log(bot, "Concerto is running")
        first = json.loads((tmp_path / "data" / "credentials.json").read_text())
        # The sync after the token's 20 s is refused with soft_logout: true.
        await wait_for_log(bot, "logged in again", timeout=120)
        again = json.loads((tmp_path / "data" / "credentials.json").read_text())
        assert again["device_id"] == first["device_id"]
        assert again["access_token"] != first["access_token"]

        organiser_account = register(server, "organiser")  # its token lasts 20 s too
        organiser = await Person.start(server.url, organiser_account)
        try:
            room_id = await organiser.create_room("Session", invite=[bot.user_id])
            await organiser.wait_for(room_id, joined(bot.user_id), timeout=15)
            asked = await organiser.send_text(room_id, "!aide")
            await organiser.wait_for(room_id, reply_to(bot.user_id, asked), timeout=15)
        finally:
            await organiser.close()
        admin = register(server, "admin", admin=True)
        assert devices(server, admin.access_token, bot.user_id) == {
            account.device_id,  # the registration's
            first["device_id"],  # the bot's, the same all along
        }
        assert bot.is_running()
        log = bot.log_text()
        assert "Traceback" not in log
        assert first["access_token"] not in log and again["access_token"] not in log
    finally:
        await bot.stop(signal.SIGTERM)
