"""The web service: /healthz, security headers on every answer, a bare 404 for anything
unknown, per-address limits, capability links checked on every request, 304s."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from harness import ROOM, Harness

from bot.runtime.config import ConfigError, WebConfig, load_config
from bot.runtime.health import SYNC_STALE_SECONDS, Health, SyncState
from bot.runtime.kit import Page, PageRequest
from bot.runtime.web import SECURITY_HEADERS, WebService
from bot.runtime.web_limits import AddressLimiter, client_address
from storage.web import WebLinkRepository

PUBLIC = "https://concerto.example.org"


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def sync_state(monotonic: Monotonic) -> dict[str, Any]:
    return {"last_success": monotonic.now, "failures": 0}


def echo_page(session: Any, request: PageRequest) -> Page | None:
    if request.path not in ("", "week"):
        return None
    body = f"{request.room_id} {request.path} {request.base_url}".encode()
    return Page(body, "text/plain; charset=utf-8", last_modified=request.now)


def service(
    bot: Harness, sync_state: dict[str, Any], monotonic: Monotonic, **extra: Any
) -> WebService:
    health = Health(bot.database, bot.clock, lambda: SyncState(**sync_state), monotonic=monotonic)
    return WebService(
        WebConfig(listen="127.0.0.1:0", public_url=PUBLIC),
        database=bot.database,
        clock=bot.clock,
        gateway=bot.sender,
        pages={"echo": echo_page, **bot.services.links.pages},
        health=health,
        **extra,
    )


@pytest.fixture
async def client(
    bot: Harness, sync_state: dict[str, Any], monotonic: Monotonic
) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(service(bot, sync_state, monotonic).application())) as c:
        yield c


def link(bot: Harness, kind: str = "echo", room_id: str = ROOM) -> str:
    with bot.database.session() as session:
        return WebLinkRepository(session).get_or_add(room_id, kind, bot.clock.now()).token


def assert_secure(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "aiohttp" not in response.headers.get("Server", "").lower()


# --- /healthz -----------------------------------------------------------------------------


async def test_healthz_is_ok_while_syncing_with_an_empty_outbox(client):
    response = await client.get("/healthz")
    assert response.status == 200
    status = await response.json()
    assert status["status"] == "ok"
    assert status["database"] == {"ok": True}
    assert status["outbox"] == {"ok": True, "pending": 0, "oldest_pending_seconds": 0.0}
    assert status["sync"]["ok"] and status["sync"]["last_success_seconds_ago"] == 0.0
    assert_secure(response)
    assert response.headers["Cache-Control"] == "no-store"


async def test_healthz_is_unhealthy_before_the_first_sync(client, sync_state):
    sync_state["last_success"] = None
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["sync"]["ok"] is False


async def test_healthz_is_unhealthy_when_syncs_fail_or_stop(client, sync_state, monotonic):
    sync_state["failures"] = 2
    assert (await client.get("/healthz")).status == 503
    sync_state["failures"] = 0
    assert (await client.get("/healthz")).status == 200
    monotonic.now += SYNC_STALE_SECONDS + 1
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["sync"]["last_success_seconds_ago"] > SYNC_STALE_SECONDS


async def test_healthz_reports_a_stuck_outbox(bot, client):
    with bot.database.session() as session:
        bot.outbox.enqueue(session, key="k:1", room_id=ROOM, content={"body": "x"})
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["outbox"]["pending"] == 1
    bot.clock.advance(timedelta(minutes=11))
    response = await client.get("/healthz")
    assert response.status == 503
    outbox = (await response.json())["outbox"]
    assert outbox["ok"] is False and outbox["oldest_pending_seconds"] >= 660


# --- unknown, hostile --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/echo",
        "/echo/",
        "/nothing/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/echo/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/echo/short",
        "/echo/%2e%2e/%2e%2e/etc/passwd",
        "/healthz/x",
        "/ECHO/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/echo/" + "A" * 5000,
        "/.env",
    ],
)
async def test_anything_unknown_is_a_bare_404(client, path):
    response = await client.get(path)
    assert response.status == 404
    assert await response.text() == "Not found.\n"
    assert_secure(response)


async def raw_get(client: TestClient, target: str) -> tuple[int, str]:
    """Send the request line as written (a client library would normalise the path)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = (await reader.read()).decode("latin-1")
    writer.close()
    status = int(answer.split(" ", 2)[1])
    return status, answer


@pytest.mark.parametrize(
    "target",
    [
        "/echo/../healthz",
        "/../../etc/passwd",
        "/echo/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/echo/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/..%2f..%2fhealthz",
        "/echo/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/%00",
        "//echo//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/" + "a/" * 3000,
        "/echo/" + "A" * 20_000,
    ],
)
async def test_hostile_paths_get_404_or_400_without_a_trace(client, target):
    status, answer = await raw_get(client, target)
    assert status in (400, 404), answer[:200]
    assert "Traceback" not in answer and "File " not in answer
    if status == 404:
        assert answer.endswith("\r\n\r\nNot found.\n") and "Server: concerto" in answer


async def test_a_valid_link_with_an_unknown_page_or_traversal_is_404(bot, client):
    token = link(bot)
    for page in ("nope", "..", ".hidden", "week/x", "%2e%2e", "a" * 100):
        response = await client.get(f"/echo/{token}/{page}")
        assert response.status == 404, page
        assert await response.text() == "Not found.\n"


async def test_other_methods_are_refused_without_a_trace(bot, client):
    token = link(bot)
    response = await client.post(f"/echo/{token}", data=b"x" * 10)
    assert response.status == 405
    assert "Traceback" not in await response.text()
    assert_secure(response)


async def test_a_failing_page_is_a_short_500_with_an_incident(bot, sync_state, monotonic):
    def broken(session: Any, request: PageRequest) -> Page | None:
        raise RuntimeError("secret detail")

    web = service(bot, sync_state, monotonic)
    web.pages = {"echo": broken}
    async with TestClient(TestServer(web.application())) as c:
        response = await c.get(f"/echo/{link(bot)}")
        text = await response.text()
    assert response.status == 500
    assert "incident" in text and "secret" not in text and "Traceback" not in text
    assert_secure(response)


# --- links -------------------------------------------------------------------------------


async def test_a_link_serves_its_room_with_validators_and_304(bot, client):
    token = link(bot)
    response = await client.get(f"/echo/{token}")
    assert response.status == 200
    assert await response.text() == f"{ROOM}  {PUBLIC}/echo/{token}"
    assert_secure(response)
    etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
    assert (await client.get(f"/echo/{token}", headers={"If-None-Match": etag})).status == 304
    not_modified = await client.get(f"/echo/{token}", headers={"If-Modified-Since": modified})
    assert not_modified.status == 304
    assert not_modified.headers["ETag"] == etag
    bot.clock.advance(timedelta(minutes=1))
    changed = await client.get(f"/echo/{token}", headers={"If-Modified-Since": modified})
    assert changed.status == 200
    page = await client.get(f"/echo/{token}/week", headers={"If-None-Match": etag})
    assert page.status == 200 and (await page.text()).startswith(f"{ROOM} week")


async def test_a_replaced_link_answers_404_at_once(bot, client):
    old = link(bot)
    with bot.database.session() as session:
        new = WebLinkRepository(session).replace(ROOM, "echo", bot.clock.now()).token
    assert new != old and len(new) == 32
    assert (await client.get(f"/echo/{old}")).status == 404
    assert (await client.get(f"/echo/{new}")).status == 200


async def test_an_encrypted_rooms_pages_wait_for_the_organisers(bot, client):
    token = link(bot)
    bot.sender.encrypted_rooms.add(ROOM)
    assert (await client.get(f"/echo/{token}")).status == 404
    with bot.database.session() as session:
        from storage.rooms import RoomSettingsRepository

        RoomSettingsRepository(session).update(ROOM, web_pages=True)
    assert (await client.get(f"/echo/{token}")).status == 200


# --- limits ------------------------------------------------------------------------------


async def test_an_address_over_its_limit_waits(bot, sync_state, monotonic):
    limiter = AddressLimiter(per_minute=60, burst=3, clock=monotonic)
    web = service(bot, sync_state, monotonic, limiter=limiter)
    async with TestClient(TestServer(web.application())) as c:
        statuses = [(await c.get("/nothing")).status for _ in range(4)]
        refused = await c.get("/healthz")
        monotonic.now += 1.0
        again = await c.get("/healthz")
    assert statuses == [404, 404, 404, 429]
    assert refused.status == 429 and refused.headers["Retry-After"] == "1"
    assert_secure(refused)
    assert again.status == 200


def test_the_limiter_is_per_address_and_refills(monotonic):
    limiter = AddressLimiter(per_minute=60, burst=2, clock=monotonic)
    assert [limiter.wait_needed("a") for _ in range(3)] == [0, 0, 1.0]
    assert limiter.wait_needed("b") == 0
    monotonic.now += 2
    assert limiter.wait_needed("a") == 0


def test_the_client_address_trusts_only_a_local_proxy():
    forwarded = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    assert client_address("127.0.0.1", forwarded) == "198.51.100.7"
    assert client_address("::1", {"X-Forwarded-For": "2001:db8::1"}) == "2001:db8::1"
    assert client_address("172.17.0.1", forwarded) == "198.51.100.7"  # Docker's bridge
    assert client_address("8.8.8.8", forwarded) == "8.8.8.8"
    assert client_address("127.0.0.1", {"X-Forwarded-For": "not an ip"}) == "127.0.0.1"
    assert client_address(None, {}) == "unknown"


# --- configuration -----------------------------------------------------------------------


def write(tmp_path, web: str):
    path = tmp_path / "config.toml"
    path.write_text(
        '[matrix]\nhomeserver = "https://m.example.org"\nuser_id = "@c:example.org"\n' + web,
        encoding="utf-8",
    )
    return path


def test_the_web_service_is_off_unless_listen_is_set(tmp_path, config):
    assert config.web == WebConfig() and not config.web.enabled
    loaded = load_config(
        write(tmp_path, '[web]\nlisten = "127.0.0.1:8080"\npublic_url = "https://c.example.org"'),
        environ={},
    )
    assert loaded.web.enabled and loaded.web.address() == ("127.0.0.1", 8080)
    assert replace(loaded.web, listen="[::1]:8080").address() == ("::1", 8080)


@pytest.mark.parametrize(
    ("web", "key"),
    [
        ('[web]\nlisten = "127.0.0.1:8080"', "web.public_url"),
        ('[web]\nlisten = "8080"\npublic_url = "https://c.example.org"', "web.listen"),
        ('[web]\nlisten = "localhost:99999"\npublic_url = "https://c.example.org"', "web.listen"),
        ('[web]\nlisten = "127.0.0.1:8080"\npublic_url = "c.example.org"', "web.public_url"),
        ('[web]\nlisten = "127.0.0.1:8080"\nport = 3', "web.port"),
    ],
)
def test_a_wrong_web_section_is_explained_by_key(tmp_path, web, key):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, web), environ={})
    assert key in {problem.key for problem in raised.value.problems}


async def test_the_service_listens_and_stops_and_a_taken_address_is_an_error(
    bot, sync_state, monotonic, unused_tcp_port
):
    import aiohttp

    web = service(bot, sync_state, monotonic)
    web.config = WebConfig(listen=f"127.0.0.1:{unused_tcp_port}", public_url=PUBLIC)
    await web.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{unused_tcp_port}/healthz") as response,
        ):
            assert response.status == 200
        second = service(bot, sync_state, monotonic)
        second.config = web.config
        with pytest.raises(OSError):
            await second.start()
    finally:
        await web.stop()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{unused_tcp_port}/healthz")


async def test_concerto_health_asks_healthz_when_the_web_service_is_on(
    bot, sync_state, monotonic, unused_tcp_port, monkeypatch, tmp_path, capsys
):
    from bot.tools.cli import main

    for name in list(os.environ):
        if name.startswith("CONCERTO_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no heartbeat file here: only /healthz can say healthy
    for name, value in {
        "CONCERTO_MATRIX_HOMESERVER": "https://matrix.example.org",
        "CONCERTO_MATRIX_USER_ID": "@concerto:example.org",
        "CONCERTO_STORAGE_DATA_DIR": str(tmp_path),
        "CONCERTO_WEB_LISTEN": f"0.0.0.0:{unused_tcp_port}",
        "CONCERTO_WEB_PUBLIC_URL": PUBLIC,
    }.items():
        monkeypatch.setenv(name, value)
    web = service(bot, sync_state, monotonic)
    web.config = WebConfig(listen=f"127.0.0.1:{unused_tcp_port}", public_url=PUBLIC)
    await web.start()
    try:
        assert await asyncio.to_thread(main, ["health"]) == 0
        assert '"status": "ok"' in capsys.readouterr().out
        sync_state["failures"] = 3
        assert await asyncio.to_thread(main, ["health"]) == 1
        assert capsys.readouterr().err.startswith('unhealthy: {"database"')
    finally:
        await web.stop()
    assert await asyncio.to_thread(main, ["health"]) == 1
    assert "no answer from http://127.0.0.1:" in capsys.readouterr().err
