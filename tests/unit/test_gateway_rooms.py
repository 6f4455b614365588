"""The gateway's room calls for features (member state, invite, direct room, room name, alias):
the exact client-server requests they make and how they read the answers, against a stub of
the HTTP layer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.matrix.gateway import MatrixGateway

BOT = "@concerto:test"
ROOM = "!room:test"
ALICE = "@alice:test"


class Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body

    async def json(self) -> Any:
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


class Homeserver:
    """Records each request (method, path, JSON body) and gives the next prepared answer."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.answers: list[Response | Exception] = []

    def answer(self, status: int, body: Any = None) -> None:
        self.answers.append(Response(status, {} if body is None else body))

    async def send(
        self, method: str, path: str, data: str | None = None, headers: Any = None
    ) -> Response:
        assert headers["Authorization"] == "Bearer token"
        self.requests.append((method, path, json.loads(data) if data is not None else None))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def server() -> Homeserver:
    return Homeserver()


@pytest.fixture
async def gateway(server: Homeserver) -> AsyncIterator[MatrixGateway]:
    gateway = MatrixGateway("http://127.0.0.1:1", BOT, "test")
    gateway.client.access_token = "token"
    gateway.client.send = server.send  # type: ignore[method-assign]
    yield gateway
    await gateway.close()


async def test_gateway_rooms_membership_reads_the_member_state(gateway, server):
    server.answer(200, {"membership": "leave"})
    assert await gateway.membership(ROOM, ALICE) == "leave"
    path = "/_matrix/client/v3/rooms/%21room%3Atest/state/m.room.member/%40alice%3Atest"
    assert server.requests == [("GET", path, None)]


async def test_gateway_rooms_membership_is_unknown_when_the_server_does_not_say(gateway, server):
    server.answer(404, {"errcode": "M_NOT_FOUND"})
    server.answer(200, {})
    assert await gateway.membership(ROOM, ALICE) is None
    assert await gateway.membership(ROOM, ALICE) == ""


async def test_gateway_rooms_membership_lets_connection_problems_through(gateway, server):
    server.answers.append(aiohttp.ClientConnectionError("down"))
    with pytest.raises(aiohttp.ClientConnectionError):
        await gateway.membership(ROOM, ALICE)


async def test_gateway_rooms_invite_says_whether_the_server_accepted(gateway, server):
    server.answer(200)
    server.answer(403, {"errcode": "M_FORBIDDEN"})
    assert await gateway.invite(ROOM, ALICE) is True
    assert await gateway.invite(ROOM, ALICE) is False
    path = "/_matrix/client/v3/rooms/%21room%3Atest/invite"
    assert server.requests == [("POST", path, {"user_id": ALICE})] * 2


async def test_gateway_rooms_direct_room_is_a_trusted_private_chat(gateway, server):
    server.answer(200, {"room_id": "!dm:test"})
    server.answer(200, {"room_id": "!dm2:test"})
    assert await gateway.create_direct_room(ALICE, encrypted=False) == "!dm:test"
    assert await gateway.create_direct_room(ALICE, encrypted=True) == "!dm2:test"
    plain = {"preset": "trusted_private_chat", "is_direct": True, "invite": [ALICE]}
    encryption = {
        "type": "m.room.encryption",
        "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
    }
    assert server.requests == [
        ("POST", "/_matrix/client/v3/createRoom", plain),
        ("POST", "/_matrix/client/v3/createRoom", {**plain, "initial_state": [encryption]}),
    ]


async def test_gateway_rooms_direct_room_refused_is_none(gateway, server, caplog):
    server.answer(403, {"errcode": "M_FORBIDDEN"})
    server.answer(200, {})
    assert await gateway.create_direct_room(ALICE, encrypted=False) is None
    assert await gateway.create_direct_room(ALICE, encrypted=False) is None
    assert "createRoom refused (403): M_FORBIDDEN" in caplog.text


async def test_gateway_rooms_room_name_reads_the_name_state(gateway, server):
    server.answer(200, {"name": "Groupe numérique"})
    assert await gateway.room_name(ROOM) == "Groupe numérique"
    path = "/_matrix/client/v3/rooms/%21room%3Atest/state/m.room.name"
    assert server.requests == [("GET", path, None)]


async def test_gateway_rooms_room_name_never_fails(gateway, server):
    server.answer(404, {"errcode": "M_NOT_FOUND"})
    server.answer(200, {"name": ""})
    server.answers.append(Response(200, aiohttp.ContentTypeError(None, ())))  # type: ignore[arg-type]
    server.answers.append(aiohttp.ClientConnectionError("down"))
    assert [await gateway.room_name(ROOM) for _ in range(4)] == [None] * 4


async def test_gateway_rooms_alias_resolves_to_a_room_id(gateway, server):
    server.answer(200, {"room_id": ROOM, "servers": ["test"]})
    server.answer(404, {"errcode": "M_NOT_FOUND"})
    server.answers.append(aiohttp.ClientConnectionError("down"))
    assert await gateway.resolve_alias("#résumé:test") == ROOM
    assert await gateway.resolve_alias("#gone:test") is None
    assert await gateway.resolve_alias("#résumé:test") is None
    assert [path for _, path, _ in server.requests] == [
        "/_matrix/client/v3/directory/room/%23r%C3%A9sum%C3%A9%3Atest",
        "/_matrix/client/v3/directory/room/%23gone%3Atest",
        "/_matrix/client/v3/directory/room/%23r%C3%A9sum%C3%A9%3Atest",
    ]
