"""The bot's session with the homeserver, against a stub of matrix-nio's calls: which session is
used at start (stored, a given access token, a password login), what stops the bot (one line
saying what to do), and what a soft logout does (a new login on the same device)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import aiohttp
import nio
import pytest

from bot.matrix.errors import FatalGatewayError, HomeserverUnreachableError, TransientError
from bot.matrix.gateway import MatrixGateway
from bot.matrix.key_files import Credentials, load_credentials, save_credentials

BOT = "@concerto:test"
HOMESERVER = "https://matrix.test"


class Homeserver:
    """Stands in for nio's login, whoami and sync; records what the gateway asked."""

    def __init__(self, gateway: MatrixGateway) -> None:
        self.client = gateway.client
        self.whoami_answers: list[Any] = []
        self.sync_answers: list[Any] = []
        self.login_answers: list[Any] = []
        self.logins: list[dict[str, Any]] = []  # the device and password of each login
        self.client.whoami = self.whoami  # type: ignore[method-assign]
        self.client.sync = self.sync  # type: ignore[method-assign]
        self.client.login = self.login  # type: ignore[method-assign]

    @staticmethod
    def _next(answers: list[Any]) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def whoami(self) -> Any:
        return self._next(self.whoami_answers)

    async def sync(self, **_kwargs: Any) -> Any:
        return self._next(self.sync_answers)

    async def login(self, password: str, device_name: str = "") -> Any:
        self.logins.append({"device_id": self.client.device_id, "password": password})
        answer = self._next(self.login_answers)
        if isinstance(answer, nio.LoginResponse):
            self.client.restore_login(answer.user_id, answer.device_id, answer.access_token)
        return answer


@pytest.fixture
def gateway() -> MatrixGateway:
    return MatrixGateway(HOMESERVER, BOT, "concerto")


@pytest.fixture
def server(gateway: MatrixGateway) -> Homeserver:
    return Homeserver(gateway)


def synced() -> nio.SyncResponse:
    response = MagicMock(spec=nio.SyncResponse)
    response.to_device_events = []
    return response


def stored(data_dir: Path, device: str = "DEVICE1", token: str = "syt_old") -> Credentials:
    credentials = Credentials(HOMESERVER, BOT, device, token)
    save_credentials(data_dir, credentials)
    return credentials


async def start(gateway: MatrixGateway, data_dir: Path, **credentials: str) -> Credentials:
    options = {"password": "", "access_token": "", "device_id": ""} | credentials
    return await gateway.login(data_dir, **options)


async def sync(gateway: MatrixGateway) -> nio.SyncResponse:
    return await gateway.sync(since="s1", timeout_ms=0, sync_filter=None, full_state=False)


# --- at start ------------------------------------------------------------------------------


async def test_stored_session_is_reused_without_a_login(gateway, server, tmp_path):
    session = stored(tmp_path)
    server.whoami_answers.append(nio.WhoamiResponse(BOT, "DEVICE1", False))
    assert await start(gateway, tmp_path, password="pw") == session
    assert server.logins == []


async def test_unreachable_homeserver_is_one_line(gateway, server, tmp_path):
    server.login_answers.append(aiohttp.ClientConnectionError("Connection refused"))
    with pytest.raises(HomeserverUnreachableError) as raised:
        await start(gateway, tmp_path, password="pw")
    assert str(raised.value).startswith(f"cannot reach the homeserver {HOMESERVER}")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("M_FORBIDDEN", "refused the password of @concerto:test"),
        ("M_USER_DEACTIVATED", "the account @concerto:test is deactivated"),
    ],
)
async def test_refused_login_says_why(gateway, server, tmp_path, code, said):
    server.login_answers.append(nio.LoginError("no", code))
    with pytest.raises(FatalGatewayError, match=said):
        await start(gateway, tmp_path, password="pw")
    assert load_credentials(tmp_path) is None


async def test_revoked_stored_token_stops_even_with_a_password(gateway, server, tmp_path):
    stored(tmp_path)
    server.whoami_answers.append(nio.WhoamiError("gone", "M_UNKNOWN_TOKEN"))
    with pytest.raises(FatalGatewayError, match="rejected the stored access token"):
        await start(gateway, tmp_path, password="pw")
    assert server.logins == []


async def test_soft_logged_out_stored_token_logs_in_again_on_its_device(gateway, server, tmp_path):
    stored(tmp_path)
    server.whoami_answers.append(nio.WhoamiError("expired", "M_UNKNOWN_TOKEN", soft_logout=True))
    server.login_answers.append(nio.LoginResponse(BOT, "DEVICE1", "syt_new"))
    credentials = await start(gateway, tmp_path, password="pw")
    assert server.logins == [{"device_id": "DEVICE1", "password": "pw"}]
    assert credentials == Credentials(HOMESERVER, BOT, "DEVICE1", "syt_new")
    assert load_credentials(tmp_path) == credentials


async def test_access_token_with_its_device_is_stored(gateway, server, tmp_path):
    server.whoami_answers.append(nio.WhoamiResponse(BOT, "MASDEVICE", False))
    credentials = await start(gateway, tmp_path, access_token="mct_x", device_id="MASDEVICE")
    assert credentials == Credentials(HOMESERVER, BOT, "MASDEVICE", "mct_x")
    assert load_credentials(tmp_path) == credentials
    assert gateway.client.device_id == "MASDEVICE"


async def test_access_token_device_id_is_used_when_the_server_does_not_say(
    gateway, server, tmp_path
):
    server.whoami_answers.append(nio.WhoamiResponse(BOT, None, False))
    credentials = await start(gateway, tmp_path, access_token="mct_x", device_id="MASDEVICE")
    assert credentials.device_id == "MASDEVICE"


async def test_access_token_without_any_device_is_refused(gateway, server, tmp_path):
    server.whoami_answers.append(nio.WhoamiResponse(BOT, None, False))
    with pytest.raises(FatalGatewayError, match="set CONCERTO_MATRIX_DEVICE_ID"):
        await start(gateway, tmp_path, access_token="mct_x")


async def test_access_token_of_another_device_is_refused(gateway, server, tmp_path):
    server.whoami_answers.append(nio.WhoamiResponse(BOT, "REAL", False))
    with pytest.raises(FatalGatewayError, match="CONCERTO_MATRIX_DEVICE_ID=REAL"):
        await start(gateway, tmp_path, access_token="mct_x", device_id="OTHER")
    assert load_credentials(tmp_path) is None


async def test_access_token_of_another_account_is_refused(gateway, server, tmp_path):
    server.whoami_answers.append(nio.WhoamiResponse("@someone:test", "D", False))
    with pytest.raises(FatalGatewayError, match="belongs to @someone:test"):
        await start(gateway, tmp_path, access_token="mct_x")


async def test_a_new_access_token_replaces_the_stored_one(gateway, server, tmp_path):
    stored(tmp_path, device="MASDEVICE", token="mct_revoked")
    server.whoami_answers.append(nio.WhoamiResponse(BOT, "MASDEVICE", False))
    credentials = await start(gateway, tmp_path, access_token="mct_new")
    assert credentials.access_token == "mct_new"
    assert load_credentials(tmp_path) == credentials


async def test_the_stored_token_given_again_is_just_reused(gateway, server, tmp_path):
    session = stored(tmp_path, device="MASDEVICE", token="mct_same")
    server.whoami_answers.append(nio.WhoamiResponse(BOT, "MASDEVICE", False))
    assert await start(gateway, tmp_path, access_token="mct_same") == session


# --- while running -------------------------------------------------------------------------


async def running(gateway: MatrixGateway, server: Homeserver, data_dir: Path, **options: str):
    stored(data_dir)
    server.whoami_answers.append(nio.WhoamiResponse(BOT, "DEVICE1", False))
    await start(gateway, data_dir, **options)


async def test_signed_out_for_good_stops_and_never_logs_in(gateway, server, tmp_path):
    await running(gateway, server, tmp_path, password="pw")
    server.sync_answers.append(nio.SyncError("Unknown token", "M_UNKNOWN_TOKEN"))
    with pytest.raises(FatalGatewayError) as raised:
        await sync(gateway)
    assert "signed the bot out (device DEVICE1 deleted or its token revoked)" in str(raised.value)
    assert "delete credentials.json" in str(raised.value)
    assert server.logins == []


async def test_soft_logout_logs_in_again_on_the_same_device_and_syncs(gateway, server, tmp_path):
    await running(gateway, server, tmp_path, password="pw")
    response = synced()
    server.sync_answers += [
        nio.SyncError("expired", "M_UNKNOWN_TOKEN", soft_logout=True),
        response,
    ]
    server.login_answers.append(nio.LoginResponse(BOT, "DEVICE1", "syt_new"))
    assert await sync(gateway) is response
    assert server.logins == [{"device_id": "DEVICE1", "password": "pw"}]
    assert load_credentials(tmp_path) == Credentials(HOMESERVER, BOT, "DEVICE1", "syt_new")


async def test_soft_logout_without_a_password_stops(gateway, server, tmp_path):
    await running(gateway, server, tmp_path)
    server.sync_answers.append(nio.SyncError("expired", "M_UNKNOWN_TOKEN", soft_logout=True))
    with pytest.raises(FatalGatewayError, match="no password is set"):
        await sync(gateway)
    assert server.logins == []


async def test_soft_logout_while_the_homeserver_is_away_is_retried(gateway, server, tmp_path):
    await running(gateway, server, tmp_path, password="pw")
    server.sync_answers.append(nio.SyncError("expired", "M_UNKNOWN_TOKEN", soft_logout=True))
    server.login_answers.append(aiohttp.ClientConnectionError("Connection refused"))
    with pytest.raises(TransientError):
        await sync(gateway)


async def test_refused_login_after_a_soft_logout_stops(gateway, server, tmp_path):
    await running(gateway, server, tmp_path, password="pw")
    server.sync_answers.append(nio.SyncError("expired", "M_UNKNOWN_TOKEN", soft_logout=True))
    server.login_answers.append(nio.LoginError("Invalid password", "M_FORBIDDEN"))
    with pytest.raises(FatalGatewayError, match="refused the password"):
        await sync(gateway)


async def test_soft_logged_out_stored_token_without_a_password_asks_for_it(
    gateway, server, tmp_path
):
    stored(tmp_path)
    server.whoami_answers.append(nio.WhoamiError("expired", "M_UNKNOWN_TOKEN", soft_logout=True))
    with pytest.raises(FatalGatewayError, match="CONCERTO_MATRIX_PASSWORD set to log in again"):
        await start(gateway, tmp_path)


async def test_a_homeserver_in_trouble_is_not_a_rejected_token(gateway, server, tmp_path):
    stored(tmp_path)
    server.whoami_answers.append(nio.WhoamiError("unknown error"))
    with pytest.raises(FatalGatewayError, match="could not check the stored session"):
        await start(gateway, tmp_path, password="pw")
    assert load_credentials(tmp_path) is not None
    assert server.logins == []
