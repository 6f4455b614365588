"""The Matrix gateway: the bot's one connection to the homeserver, through matrix-nio (with
its key store in ``crypto_store`` and its answers to members' key requests in ``key_requests``).

It turns nio's returned error objects into exceptions the runtime can act on (retry later,
give up, stop the bot), and refuses by construction to send plaintext into an encrypted room.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import nio
from nio import Api
from nio.crypto import ENCRYPTION_ENABLED

from bot.matrix.crypto_store import CryptoStore
from bot.matrix.errors import (
    FatalGatewayError,
    HomeserverUnreachableError,
    SendError,
    TransientError,
)
from bot.matrix.key_files import CREDENTIALS_FILE, Credentials, load_credentials, save_credentials
from bot.matrix.key_requests import answer_key_requests

log = logging.getLogger(__name__)

SENT_MARKER = "org.concerto.txn"  # in every event the bot sends: its transaction ID
PERMANENT_ERRORS = {
    "M_FORBIDDEN",
    "M_TOO_LARGE",
    "M_BAD_JSON",
    "M_NOT_JSON",
    "M_INVALID_PARAM",
    "M_NOT_FOUND",
    "M_UNKNOWN",
    "M_BAD_STATE",
}
ENCRYPTION_STATE = {  # an ``initial_state`` entry: the room is encrypted from its creation
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


SIGNED_OUT_HINT = (
    f"delete {CREDENTIALS_FILE} in the data dir and start again with CONCERTO_MATRIX_PASSWORD "
    "set (a new device), or set a new CONCERTO_MATRIX_ACCESS_TOKEN and CONCERTO_MATRIX_DEVICE_ID"
)


def _error_code(response: Any) -> str:
    return str(getattr(response, "status_code", "") or "")


class MatrixGateway:
    def __init__(
        self,
        homeserver: str,
        user_id: str,
        device_name: str,
        *,
        store_path: Path | None = None,
        pickle_key: str = "",
    ) -> None:
        """With ``store_path`` (and the e2e extra installed) the client encrypts and decrypts,
        keeping its keys there; without it, it refuses to send into encrypted rooms."""
        encryption = store_path is not None and bool(ENCRYPTION_ENABLED)
        config = nio.AsyncClientConfig(
            max_limit_exceeded=0,  # we honour 429s ourselves, with our own bookkeeping
            max_timeouts=0,  # connection errors come back to us at once
            request_timeout=60,
            store_sync_tokens=False,
            encryption_enabled=encryption,
            pickle_key=pickle_key or "DEFAULT_KEY",
            store=CryptoStore,
        )
        self.client = nio.AsyncClient(
            homeserver,
            user_id,
            store_path=str(store_path) if encryption and store_path else "",
            config=config,
        )
        self.user_id = user_id
        self.device_name = device_name
        self.store_path = store_path if encryption else None
        self.encryption_problem: str | None = None  # set when the keys cannot be trusted
        self._key_requests: list[nio.RoomKeyRequest] = []  # from members, answered after sync
        self._creators: dict[str, frozenset[str]] = {}
        self._encrypted_send_locks: dict[str, asyncio.Lock] = {}
        self._data_dir: Path | None = None  # where the session is stored (set by login)
        self._password = ""  # to log in again on the same device after a soft logout

    @property
    def encryption_ready(self) -> bool:
        """The bot can encrypt: a loaded store whose keys the server accepted."""
        return self.client.olm is not None and self.encryption_problem is None

    # --- session -----------------------------------------------------------------------

    async def login(
        self, data_dir: Path, *, password: str, access_token: str, device_id: str = ""
    ) -> Credentials:
        """Reuse the stored session, or log in once and store it (no new device per start).

        ``access_token`` (with its ``device_id``) is a token issued elsewhere, e.g. by the
        homeserver's admin tool: used when nothing is stored, or when it differs from the stored
        one (a new token replaces a revoked one). Every failure raises `FatalGatewayError` with
        one line saying what to do. The password, if any, is kept in memory to log in again on
        the same device after a soft logout.
        """
        self._data_dir, self._password = data_dir, password
        stored = load_credentials(data_dir)
        if stored is not None and stored.user_id != self.user_id:
            stored = None
        if access_token and (stored is None or stored.access_token != access_token):
            credentials = await self._adopt_token(access_token, device_id)
        elif stored is not None:
            self.client.restore_login(stored.user_id, stored.device_id, stored.access_token)
            credentials = await self._check_session(stored)
            if credentials == stored:
                return stored
        elif password:
            credentials = await self._log_in(password)
        else:
            raise FatalGatewayError(
                "no stored session and no credentials: set CONCERTO_MATRIX_PASSWORD "
                "(or CONCERTO_MATRIX_ACCESS_TOKEN and CONCERTO_MATRIX_DEVICE_ID) for the first "
                "start"
            )
        self._save(credentials)
        log.info("logged in as %s on device %s", self.user_id, credentials.device_id)
        return credentials

    async def _adopt_token(self, access_token: str, device_id: str) -> Credentials:
        self.client.access_token = access_token
        whoami = await self._whoami("the access token given in matrix.access_token")
        if isinstance(whoami, nio.WhoamiError):
            raise FatalGatewayError(
                f"the homeserver rejected matrix.access_token ({whoami.status_code}: "
                f"{whoami.message}): issue a new token and set CONCERTO_MATRIX_ACCESS_TOKEN"
            )
        found = whoami.device_id or ""
        if device_id and found and device_id != found:
            raise FatalGatewayError(
                f"matrix.device_id is {device_id} but the access token belongs to device "
                f"{found}: set CONCERTO_MATRIX_DEVICE_ID={found}"
            )
        device = found or device_id
        if not device:
            raise FatalGatewayError(
                "the homeserver does not say which device the access token belongs to: set "
                "CONCERTO_MATRIX_DEVICE_ID to the device the token was issued for"
            )
        self.client.restore_login(self.user_id, device, access_token)
        return Credentials(self.client.homeserver, self.user_id, device, access_token)

    async def _check_session(self, stored: Credentials) -> Credentials:
        """The stored session, still good; or, after a soft logout and with a password, a
        new login on the same device (returned, to be stored)."""
        whoami = await self._whoami("the stored session")
        if isinstance(whoami, nio.WhoamiError):
            if _error_code(whoami) != "M_UNKNOWN_TOKEN":  # a proxy's 502, a server in trouble
                raise FatalGatewayError(
                    f"the homeserver {self.client.homeserver} could not check the stored "
                    f"session ({whoami}): check that it is up, then start the bot again"
                )
            if whoami.soft_logout and self._password:
                return await self._log_in(self._password)
            if whoami.soft_logout:
                raise FatalGatewayError(
                    f"the homeserver ended the session of device {stored.device_id} (soft "
                    "logout): start the bot with CONCERTO_MATRIX_PASSWORD set to log in again "
                    "on the same device"
                )
            raise FatalGatewayError(
                f"the homeserver rejected the stored access token ({whoami.status_code}): "
                f"{SIGNED_OUT_HINT}"
            )
        if whoami.device_id and whoami.device_id != stored.device_id:
            raise FatalGatewayError(
                f"stored device {stored.device_id} does not match the token's device "
                f"{whoami.device_id}: {SIGNED_OUT_HINT}"
            )
        return stored

    async def _log_in(self, password: str) -> Credentials:
        """A password login, on the current device when there is one (a soft logout) and as
        a new device otherwise."""
        try:
            response = await self.client.login(password=password, device_name=self.device_name)
        except (TimeoutError, OSError, aiohttp.ClientError) as error:
            raise HomeserverUnreachableError(self._unreachable(error)) from None
        if isinstance(response, nio.LoginResponse):
            return Credentials(
                self.client.homeserver, self.user_id, response.device_id, response.access_token
            )
        code = _error_code(response)
        if code == "M_USER_DEACTIVATED":
            raise FatalGatewayError(
                f"the account {self.user_id} is deactivated on the homeserver: ask its "
                "administrator to reactivate it, or create another account and set "
                "matrix.user_id"
            )
        if code == "M_FORBIDDEN":
            raise FatalGatewayError(
                f"the homeserver refused the password of {self.user_id} ({response.message}): "
                "check matrix.user_id and CONCERTO_MATRIX_PASSWORD (a deactivated account "
                "refuses every password too)"
            )
        raise FatalGatewayError(
            f"login failed for {self.user_id}: {code or 'error'} {response.message} "
            "(check matrix.user_id and CONCERTO_MATRIX_PASSWORD)"
        )

    def _save(self, credentials: Credentials) -> None:
        if self._data_dir is None:
            return
        try:
            save_credentials(self._data_dir, credentials)
        except OSError as error:
            raise FatalGatewayError(
                f"cannot write {CREDENTIALS_FILE} in the data dir {self._data_dir} "
                f"({error.strerror}): make the data dir writable by uid {os.getuid()}"
            ) from None

    def _unreachable(self, error: BaseException) -> str:
        reason = str(error) or type(error).__name__
        return (
            f"cannot reach the homeserver {self.client.homeserver} ({reason}): check "
            "matrix.homeserver and that the homeserver is up, then start the bot again"
        )

    async def _whoami(self, what: str) -> nio.WhoamiResponse | nio.WhoamiError:
        """Who the current token belongs to; connection problems are fatal (at start)."""
        try:
            response = await self.client.whoami()
        except (TimeoutError, OSError, aiohttp.ClientError) as error:
            raise HomeserverUnreachableError(self._unreachable(error)) from None
        if isinstance(response, nio.WhoamiResponse) and response.user_id != self.user_id:
            raise FatalGatewayError(
                f"{what} belongs to {response.user_id}, not {self.user_id}: fix matrix.user_id "
                "or the token"
            )
        return response

    async def close(self) -> None:
        await self.client.close()

    # --- sync --------------------------------------------------------------------------

    async def upload_filter(self, definition: dict[str, Any]) -> str:
        response = await self.client.upload_filter(
            presence=definition.get("presence"),
            account_data=definition.get("account_data"),
            room=definition.get("room"),
        )
        if isinstance(response, nio.UploadFilterResponse):
            return str(response.filter_id)
        raise TransientError(f"filter upload failed: {response}")

    async def sync(
        self, *, since: str | None, timeout_ms: int, sync_filter: str | None, full_state: bool
    ) -> nio.SyncResponse:
        for _attempt in range(2):  # a second time only after logging in again (soft logout)
            try:
                response = await self.client.sync(
                    timeout=timeout_ms, since=since, sync_filter=sync_filter, full_state=full_state
                )
            except (TimeoutError, OSError, aiohttp.ClientError) as error:
                raise TransientError(f"sync failed: {error!r}") from None
            if isinstance(response, nio.SyncResponse):
                self._key_requests.extend(
                    event
                    for event in response.to_device_events
                    if isinstance(event, nio.RoomKeyRequest)
                )
                return response
            if _error_code(response) != "M_UNKNOWN_TOKEN":
                break
            await self._session_ended(soft=response.soft_logout)
        raise TransientError(f"sync error: {response}")

    async def _session_ended(self, *, soft: bool) -> None:
        """The homeserver no longer accepts the token. Signed out for good (device deleted,
        token revoked): stop, never log in again on our own. A soft logout (the token expired)
        with a password at hand: log in again on the same device, keeping its keys."""
        if not soft:
            raise FatalGatewayError(
                f"the homeserver signed the bot out (device {self.client.device_id} deleted or "
                f"its token revoked): {SIGNED_OUT_HINT}"
            )
        if not self._password:
            raise FatalGatewayError(
                f"the homeserver ended the session of device {self.client.device_id} (soft "
                "logout) and no password is set: start the bot with CONCERTO_MATRIX_PASSWORD "
                "set to log in again on the same device, or give a new "
                "CONCERTO_MATRIX_ACCESS_TOKEN"
            )
        log.warning(
            "the homeserver ended the session (soft logout): logging in again on device %s",
            self.client.device_id,
        )
        try:
            credentials = await self._log_in(self._password)
        except HomeserverUnreachableError as error:
            raise TransientError(str(error)) from None  # the next sync tries again
        self._save(credentials)
        log.info("logged in again as %s on device %s", self.user_id, credentials.device_id)

    async def messages_between(
        self, room_id: str, *, start: str, end: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Raw events between two sync tokens, oldest first (fills ``limited`` timeline gaps)."""
        collected: list[dict[str, Any]] = []
        token = start
        for _page in range(100):  # bounded: 10,000 events per gap is far beyond a burst
            response = await self.client.room_messages(
                room_id, start=token, end=end, direction=nio.MessageDirection.back, limit=limit
            )
            if not isinstance(response, nio.RoomMessagesResponse):
                raise TransientError(f"backfill failed in {room_id}: {response}")
            collected.extend(event.source for event in response.chunk)
            if not response.chunk or not response.end or response.end == token:
                break
            token = response.end
        collected.reverse()
        return collected

    # --- encryption --------------------------------------------------------------------

    async def after_sync(self) -> None:
        """Key upkeep after each sync (what nio's ``sync_forever`` would do): queued
        to-device messages, one-time key upload, device-list queries and key claims."""
        client = self.client
        if client.olm is None:
            return
        try:
            if client.outgoing_to_device_messages:
                await client.send_to_device_messages()
            if client.should_upload_keys and self.encryption_problem is None:
                await self.upload_keys()
            if client.should_query_keys:
                changed = set(client.users_for_key_query)
                response = await client.keys_query()
                if not isinstance(response, nio.KeysQueryResponse):
                    log.warning("device key query failed: %s", response)
                else:  # devices added or removed: new room keys for everyone still there
                    for room_id, room in client.rooms.items():
                        if room.encrypted and changed.intersection(room.users):
                            async with self._encrypted_send_locks.setdefault(
                                room_id, asyncio.Lock()
                            ):  # not while a send is sharing the current session
                                client.invalidate_outbound_session(room_id)
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            if self._key_requests:
                requests, self._key_requests = self._key_requests, []
                await answer_key_requests(client, self.user_id, requests)
        except (TimeoutError, OSError, aiohttp.ClientError, nio.LocalProtocolError) as error:
            log.warning("key upkeep failed, will retry after the next sync: %r", error)

    async def upload_keys(self) -> bool:
        """Upload device and one-time keys; a rejection marks encryption as broken."""
        response = await self.client.keys_upload()
        if isinstance(response, nio.KeysUploadResponse):
            return True
        transport = getattr(response, "transport_response", None)
        http_status = getattr(transport, "status", 500)
        if http_status == 429 or http_status >= 500:
            log.warning("key upload failed, will retry: %s", response)
            return False
        self.encryption_problem = f"the homeserver rejected the device keys: {response.message}"
        log.error(
            "%s. The crypto store in the data dir does not match device %s: the bot will not "
            "act in encrypted rooms. To recover, stop the bot, delete credentials.json and the "
            "crypto folder in the data dir, and start again with CONCERTO_MATRIX_PASSWORD set "
            "(a new device is created).",
            self.encryption_problem,
            self.client.device_id,
        )
        return False

    async def request_room_key(self, room_id: str, raw: dict[str, Any]) -> None:
        """Ask the sender's device and our own other devices for a message's missing key."""
        client = self.client
        if client.olm is None:
            return
        try:
            event = nio.MegolmEvent.from_dict(raw)
        except (KeyError, TypeError, ValueError):
            return
        if not isinstance(event, nio.MegolmEvent) or not event.session_id:
            return
        event.room_id = room_id
        if event.session_id in client.outgoing_key_requests:
            return
        try:
            await client.request_room_key(event)
            to_sender = event.as_key_request(
                event.sender,
                client.device_id or "",
                request_id=f"{event.session_id}-sender",
                device_id=event.device_id or "*",
            )
            await client.to_device(to_sender)
        except (TimeoutError, OSError, aiohttp.ClientError, nio.LocalProtocolError) as error:
            log.warning("key request failed: %r", error, extra={"room_id": room_id})

    async def request_json(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """A raw client-server API call (for endpoints nio lacks): status and JSON body."""
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        data = json.dumps(body) if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        response = await self.client.send(method, path, data, headers=headers)
        try:
            parsed = await response.json()
        except (aiohttp.ContentTypeError, ValueError):
            parsed = {}
        return response.status, parsed if isinstance(parsed, dict) else {}

    # --- sending -----------------------------------------------------------------------

    def has_room_state(self, room_id: str) -> bool:
        """Whether a sync gave the room's state (whether it is encrypted can be told)."""
        return room_id in self.client.rooms

    def is_encrypted(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return bool(room and room.encrypted) or room_id in self.client.encrypted_rooms

    async def fetch_is_encrypted(self, room_id: str) -> bool:
        """Ask the server (nio drops encryption from invite state, and syncs lag behind)."""
        state = await self._get_json(
            f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/m.room.encryption/"
        )
        return bool(state and state.get("algorithm"))

    async def send(
        self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> str:
        if self.is_encrypted(room_id) and self.client.olm is None:
            # nio would silently send plaintext here: never let that happen.
            raise SendError("refusing to send plaintext into an encrypted room", permanent=True)
        if self.is_encrypted(room_id) and self.encryption_problem is not None:
            raise SendError(
                f"encryption is broken ({self.encryption_problem}): not sending", permanent=True
            )
        if self.client.olm is not None and room_id not in self.client.rooms:
            # nio cannot tell yet whether the room is encrypted: wait for the sync.
            raise SendError("room not synced yet", permanent=False)
        # The marker lets a later start find this event if the homeserver has forgotten the
        # transaction ID (it keeps them for about half an hour only).
        content = {**content, SENT_MARKER: txn_id}
        if self.is_encrypted(room_id):
            # nio shares a room's Megolm session in place: two sends at once into the same
            # encrypted room corrupt its bookkeeping, so they take turns (rooms stay parallel).
            async with self._encrypted_send_locks.setdefault(room_id, asyncio.Lock()):
                return await self._room_send(room_id, event_type, content, txn_id)
        return await self._room_send(room_id, event_type, content, txn_id)

    async def _room_send(
        self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> str:
        try:
            # Keys go to every device of the room's members, verified or not (docs: encryption).
            response = await self.client.room_send(
                room_id, event_type, content, tx_id=txn_id, ignore_unverified_devices=True
            )
        except (nio.EncryptionError, nio.OlmTrustError, nio.LocalProtocolError) as error:
            raise SendError(f"could not encrypt: {error}", permanent=False) from None
        except (TimeoutError, OSError, aiohttp.ClientError) as error:
            raise SendError(f"connection problem: {error!r}", permanent=False) from None
        if isinstance(response, nio.RoomSendResponse):
            return str(response.event_id)
        code = _error_code(response)
        if code == "M_LIMIT_EXCEEDED" or code == "429":
            retry_after = (response.retry_after_ms or 1000) / 1000
            raise SendError("rate limited", permanent=False, retry_after=retry_after)
        raise SendError(f"{code}: {response.message}", permanent=code in PERMANENT_ERRORS)

    async def find_sent(self, room_id: str, txn_id: str, *, limit: int = 300) -> str | None:
        """The event this bot already sent with ``txn_id`` among the room's latest events."""
        token = self.client.next_batch
        if not token:
            return None
        seen = 0
        while seen < limit:
            try:
                response = await self.client.room_messages(
                    room_id, start=token, direction=nio.MessageDirection.back, limit=100
                )
            except (TimeoutError, OSError, aiohttp.ClientError) as error:
                raise SendError(f"connection problem: {error!r}", permanent=False) from None
            if not isinstance(response, nio.RoomMessagesResponse) or not response.chunk:
                return None
            for event in response.chunk:
                source = event.source
                content = source.get("content") if isinstance(source, dict) else None
                if (
                    source.get("sender") == self.user_id
                    and isinstance(content, dict)
                    and content.get(SENT_MARKER) == txn_id
                ):
                    return str(source.get("event_id"))
            seen += len(response.chunk)
            if not response.end or response.end == token:
                return None
            token = response.end
        return None

    async def upload_file(
        self, data: bytes, *, content_type: str, filename: str, encrypt: bool
    ) -> dict[str, Any]:
        """Upload a file and return where it is, ready to merge into an ``m.file`` event:
        ``{"url": mxc}``, or for an encrypted room ``{"file": {"url": mxc, **keys}}`` so
        the server only ever holds ciphertext (spec: sending encrypted attachments)."""
        response, keys = await self.client.upload(
            io.BytesIO(data),
            content_type=content_type,
            filename=filename,
            filesize=len(data),
            encrypt=encrypt,
        )
        if not isinstance(response, nio.UploadResponse):
            raise SendError(f"upload failed: {response}", permanent=False)
        if not encrypt:
            return {"url": str(response.content_uri)}
        if not keys:
            raise SendError("upload failed: no decryption keys", permanent=False)
        return {"file": {"url": str(response.content_uri), **keys}}

    # --- rooms -------------------------------------------------------------------------

    async def join(self, room_id: str) -> bool:
        response = await self.client.join(room_id)
        if isinstance(response, nio.JoinResponse):
            return True
        log.warning("could not join: %s", response, extra={"room_id": room_id})
        return False

    async def leave(self, room_id: str, reason: str | None = None) -> None:
        """Leave a room or reject an invite, with a reason people can read."""
        method, path = Api.room_leave(self.client.access_token, room_id)
        body = Api.to_json({"reason": reason} if reason else {})
        response = await self.client._send(nio.RoomLeaveResponse, method, path, body)
        if isinstance(response, nio.ErrorResponse):
            log.warning("could not leave: %s", response, extra={"room_id": room_id})
        await self.client.room_forget(room_id)

    async def joined_member_ids(self, room_id: str) -> list[str]:
        response = await self.client.joined_members(room_id)
        if isinstance(response, nio.JoinedMembersResponse):
            return [member.user_id for member in response.members]
        raise TransientError(f"joined_members failed: {response}")

    async def membership(self, room_id: str, user_id: str) -> str | None:
        """``user_id``'s membership in the room from its current state (``join``, ``invite``,
        ``leave``…), or None when the server does not say. Connection problems raise."""
        room, user = quote(room_id, safe=""), quote(user_id, safe="")
        status, state = await self.request_json(
            "GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.member/{user}"
        )
        if status != 200:
            return None
        membership = state.get("membership")
        return membership if isinstance(membership, str) else ""

    async def invite(self, room_id: str, user_id: str) -> bool:
        """Invite ``user_id`` into the room: whether the server accepted. Connection problems
        raise."""
        status, _ = await self.request_json(
            "POST",
            f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/invite",
            {"user_id": user_id},
        )
        return status == 200

    async def create_direct_room(self, user_id: str, *, encrypted: bool) -> str | None:
        """A new direct room (a trusted private chat) with ``user_id`` invited, encrypted from
        its creation when ``encrypted``; None when the server refused (logged). Connection
        problems raise."""
        create: dict[str, Any] = {
            "preset": "trusted_private_chat",
            "is_direct": True,
            "invite": [user_id],
        }
        if encrypted:
            create["initial_state"] = [ENCRYPTION_STATE]
        status, body = await self.request_json("POST", "/_matrix/client/v3/createRoom", create)
        room_id = body.get("room_id")
        if status != 200 or not isinstance(room_id, str):
            log.warning("createRoom refused (%s): %s", status, body.get("errcode"))
            return None
        return room_id

    async def room_name(self, room_id: str) -> str | None:
        """The room's name (its ``m.room.name`` state), or None when it has none or the server
        cannot say (never raises: a name is never worth failing for)."""
        state = await self._get_json(f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.name")
        name = (state or {}).get("name")
        return str(name) if name else None

    async def resolve_alias(self, alias: str) -> str | None:
        """The ID of the room a ``#alias:server`` points to, or None when unknown or the server
        cannot say (never raises)."""
        found = await self._get_json(f"/_matrix/client/v3/directory/room/{quote(alias)}")
        room_id = (found or {}).get("room_id")
        return str(room_id) if room_id else None

    def display_name(self, room_id: str, user_id: str) -> str:
        room = self.client.rooms.get(room_id)
        if room is not None:
            user = room.users.get(user_id)
            if user is not None and user.display_name:
                return str(user.display_name)
        return user_id

    async def power_level(self, room_id: str, user_id: str) -> float:
        """The user's power level from current room state; v12 creators are above everyone."""
        if user_id in await self._room_creators(room_id):
            return float("inf")
        room = self.client.rooms.get(room_id)
        if room is None:
            return 0
        levels = room.power_levels
        return float(levels.users.get(user_id, levels.defaults.users_default))

    async def may_redact_others(self, room_id: str) -> bool:
        """Whether the bot may redact others' events here.

        Then its poll end event closes a poll someone started from their client: MSC3381 has
        clients accept an end event from the poll's creator or from someone who may redact it.
        """
        room = self.client.rooms.get(room_id)
        if room is None:
            return False
        needed = room.power_levels.defaults.redact
        return await self.power_level(room_id, self.user_id) >= needed

    async def _room_creators(self, room_id: str) -> frozenset[str]:
        """Creators hold unlimited power in room version 12+ (nio does not know this yet)."""
        if room_id in self._creators:
            return self._creators[room_id]
        create = await self._get_json(
            f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/m.room.create/?format=event"
        )
        if create is None:
            return frozenset()  # not cached: ask again next time
        content: dict[str, Any] = create.get("content") or {}
        version = str(content.get("room_version", "1"))
        creators: frozenset[str] = frozenset()
        if version.isdigit() and int(version) >= 12:
            candidates = [create.get("sender"), *(content.get("additional_creators") or [])]
            creators = frozenset(c for c in candidates if isinstance(c, str) and c)
        self._creators[room_id] = creators
        return creators

    async def _get_json(self, path: str) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        try:
            response = await self.client.send("GET", path, headers=headers)
            if response.status != 200:
                return None
            data = await response.json()
        except Exception as error:
            log.warning("GET %s failed: %r", path.split("?")[0], error)
            return None
        return data if isinstance(data, dict) else None
