"""People with their own end-to-end encryption: a :class:`Person` whose nio client has a crypto
store (its own folder), a fixed device ID and ``restore_login``, like a real Matrix app.

What they receive is recorded decrypted (``event.source`` of a decrypted event is the decrypted
JSON), so the usual predicates work. :func:`raw_messages` reads the room history as the
server stores it, to prove only ciphertext went over the wire.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from matrix_people import Person
from nio import (
    AsyncClient,
    AsyncClientConfig,
    KeysQueryResponse,
    KeysUploadResponse,
    LocalProtocolError,
    RoomSendResponse,
    SyncResponse,
)

from bot.tools.local_homeserver import RegisteredUser

log = logging.getLogger(__name__)

ENCRYPTION_STATE = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}
"""``initial_state`` entry that creates an encrypted room."""


class EncryptedPerson(Person):
    """A person whose client encrypts and decrypts (store in ``store_dir``)."""

    @classmethod
    async def start_encrypted(
        cls, homeserver_url: str, user: RegisteredUser, store_dir: Path
    ) -> EncryptedPerson:
        await asyncio.to_thread(store_dir.mkdir, parents=True, exist_ok=True)
        config = AsyncClientConfig(
            encryption_enabled=True,
            store_sync_tokens=True,
            max_timeout_retry_wait_time=1.0,
            max_timeouts=180,
        )
        client = AsyncClient(
            homeserver_url,
            user.user_id,
            device_id=user.device_id,
            store_path=str(store_dir),
            config=config,
        )
        client.restore_login(user.user_id, user.device_id, user.access_token)
        assert client.olm is not None, "the e2e extra of matrix-nio is needed"
        if client.should_upload_keys:
            uploaded = await client.keys_upload()
            assert isinstance(uploaded, KeysUploadResponse), uploaded
        person = cls(client, user)
        person._task = asyncio.create_task(person._sync_loop(), name=f"sync {user.user_id}")
        async with asyncio.timeout(30):
            await person._synced.wait()
        person._raise_if_failed()
        return person

    async def create_encrypted_room(self, name: str, *, invite: list[str]) -> str:
        return await self.create_room(name, invite=invite, initial_state=[ENCRYPTION_STATE])

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        """Send, encrypted when the room is (keys go to every device, like Element does)."""
        response = await self.client.room_send(
            room_id, event_type, content, ignore_unverified_devices=True
        )
        if not isinstance(response, RoomSendResponse):
            raise AssertionError(f"send {event_type} failed: {response}")
        self._last_sent[room_id] = response.event_id
        return str(response.event_id)

    async def _ingest(self, response: SyncResponse, since: str | None) -> None:
        await super()._ingest(response, since)
        await self._key_upkeep()

    async def _key_upkeep(self) -> None:
        """What nio's sync_forever does after a sync: to-device, upload, query, claim."""
        client = self.client
        try:
            if client.outgoing_to_device_messages:
                await client.send_to_device_messages()
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                answer = await client.keys_query()
                if not isinstance(answer, KeysQueryResponse):
                    log.warning("key query of %s failed: %s", self.user_id, answer)
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
        except LocalProtocolError as error:
            log.warning("key upkeep of %s: %s", self.user_id, error)


async def raw_messages(person: Person, room_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The room's latest events exactly as the server stores them (no decryption), oldest
    first."""
    client = person.client
    path = f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/messages?dir=b&limit={limit}"
    response = await client.send(
        "GET", path, headers={"Authorization": f"Bearer {client.access_token}"}
    )
    assert response.status == 200, await response.text()
    chunk = json.loads(await response.text())["chunk"]
    return list(reversed(chunk))


async def query_keys(person: Person, user_id: str) -> dict[str, Any]:
    """``POST /keys/query`` for every device of ``user_id``, as the raw JSON answer."""
    client = person.client
    response = await client.send(
        "POST",
        "/_matrix/client/v3/keys/query",
        json.dumps({"device_keys": {user_id: []}}),
        headers={
            "Authorization": f"Bearer {client.access_token}",
            "Content-Type": "application/json",
        },
    )
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = json.loads(await response.text())
    return answer


MakeEncrypted = Callable[[str], Awaitable[EncryptedPerson]]
"""Type of the ``make_encrypted_person`` fixture."""
