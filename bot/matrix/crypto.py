"""End-to-end encryption: where the keys live, what is checked at start, and what happens
with a message the bot cannot decrypt.

- The crypto store (matrix-nio's SQLite store, vodozemac inside) lives in ``<data_dir>/crypto``
  next to ``credentials.json``: the device ID, the access token and the store belong together.
  Its pickles are encrypted with a random secret kept in ``<data_dir>/crypto/pickle_key``
  (owner-only), generated once.
- At start, a store that does not match the device the server knows (store lost, device
  reused) is detected: encryption is then *broken*, and the bot refuses to act in encrypted
  rooms rather than send anything it could not encrypt properly.
- A message nobody shared the keys for gets one short notice per sender per hour, and the
  keys are requested from the sender's device and from the bot's own devices.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.runtime.clock import Clock, from_millis
from bot.runtime.config import BotConfig
from bot.runtime.messages import MessageRenderer, notice_content
from bot.runtime.outbox import Outbox
from bot.runtime.room_settings import resolve
from bot.text.i18n import N_
from storage.db import Database
from storage.rooms import RoomSettingsRepository
from storage.state import StateRepository

if TYPE_CHECKING:
    from bot.matrix.gateway import MatrixGateway

log = logging.getLogger(__name__)

CRYPTO_DIR = "crypto"
PICKLE_KEY_FILE = "pickle_key"
NOTICE_EVERY = timedelta(hours=1)
STORE_LOST = "the crypto store does not hold this device's keys"
FRESH_FOR = timedelta(minutes=5)  # older undecryptable messages: keys requested, no notice
UNDECRYPTABLE = N_(
    "I could not decrypt the message {name} just sent: my device did not receive its keys. "
    "Please send it again; your app will then share the keys with me."
)


@dataclass(frozen=True)
class CryptoFiles:
    store_path: Path
    pickle_key: str


def crypto_files(data_dir: Path) -> CryptoFiles:
    """The store folder (owner-only) and the pickle key, created on first use."""
    store_path = data_dir / CRYPTO_DIR
    store_path.mkdir(parents=True, exist_ok=True)
    os.chmod(store_path, 0o700)
    return CryptoFiles(store_path, load_or_create_secret(store_path / PICKLE_KEY_FILE))


def load_or_create_secret(path: Path) -> str:
    """A random secret in an owner-only file; created once, then always read back."""
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
    secret = secrets.token_urlsafe(32)
    write_private(path, secret)
    return secret


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def store_file(store_path: Path, user_id: str, device_id: str) -> Path:
    """The file matrix-nio's default store uses for this account and device."""
    return store_path / f"{user_id}_{device_id}.db"


async def prepare(gateway: MatrixGateway, data_dir: Path, *, password: str) -> bool:
    """Check the store against the server, publish the device keys, cross-sign the device.

    Returns True when the bot can work in encrypted rooms. Otherwise the reason is logged,
    ``gateway.encryption_problem`` is set when keys cannot be trusted, and encrypted rooms
    are refused.
    """
    from bot.matrix.cross_signing import ensure_cross_signed  # needs this module's helpers

    client = gateway.client
    olm = client.olm
    if olm is None:
        log.warning(
            "end-to-end encryption is not available (matrix-nio's e2e extra is missing): "
            "invites to encrypted rooms will be refused"
        )
        return False
    user_id, device_id = gateway.user_id, client.device_id or ""
    if not olm.account.shared and not await _device_keys_match(gateway, user_id, device_id):
        gateway.encryption_problem = f"{STORE_LOST} (device {device_id})"
        if password:
            return False  # the caller starts over with a new device
        log.error(
            "%s (was the crypto folder of the data dir deleted or replaced?). The bot will "
            "not act in encrypted rooms. To recover, start it once with "
            "CONCERTO_MATRIX_PASSWORD set: it then logs in as a new device.",
            gateway.encryption_problem,
        )
        return False
    if client.should_upload_keys and not await gateway.upload_keys():
        return gateway.encryption_problem is None
    try:
        await ensure_cross_signed(
            request=gateway.request_json,
            sign_with_device=olm.sign_json,
            user_id=user_id,
            device_id=device_id,
            data_dir=data_dir,
            password=password,
        )
    except Exception:  # never stop the bot for this: clients may just show a warning
        log.exception("cross-signing failed")
    return True


def store_lost(gateway: MatrixGateway) -> bool:
    return (gateway.encryption_problem or "").startswith(STORE_LOST)


async def start_over(gateway: MatrixGateway, data_dir: Path, *, password: str) -> MatrixGateway:
    """The store of the stored device is lost but a password is at hand: log in again as a
    new device with a new store (the old device can never encrypt again)."""
    from bot.matrix.gateway import CREDENTIALS_FILE, MatrixGateway

    old_device = gateway.client.device_id
    log.warning(
        "the crypto store of device %s is lost: logging in again as a new device (messages "
        "sent before cannot be decrypted; remove the old device from the account's sessions)",
        old_device,
    )
    await gateway.close()
    (data_dir / CREDENTIALS_FILE).unlink(missing_ok=True)
    files = crypto_files(data_dir)
    fresh = MatrixGateway(
        gateway.client.homeserver,
        gateway.user_id,
        gateway.device_name,
        store_path=files.store_path,
        pickle_key=files.pickle_key,
    )
    await fresh.login(data_dir, password=password, access_token="")
    return fresh


async def _device_keys_match(gateway: MatrixGateway, user_id: str, device_id: str) -> bool:
    """A fresh account may only be uploaded for a device the server has no other keys for."""
    olm = gateway.client.olm
    assert olm is not None
    status, found = await gateway.request_json(
        "POST", "/_matrix/client/v3/keys/query", {"device_keys": {user_id: [device_id]}}
    )
    if status != 200:
        return True  # cannot tell; the key upload will fail loudly if it is wrong
    device = ((found.get("device_keys") or {}).get(user_id) or {}).get(device_id)
    if not isinstance(device, dict):
        return True
    published = (device.get("keys") or {}).get(f"ed25519:{device_id}")
    return bool(published == olm.account.identity_keys["ed25519"])


async def answer_key_requests(gateway: MatrixGateway, requests: list[Any]) -> None:
    """Re-send a room key to a member's device that asks for it, when it is safe.

    Only for a session the bot itself created (its own Megolm session of the room, still in
    use) and only to a device of a current member that this session was already shared
    with: the answer never gives anyone a key they were not meant to have. Requests from the
    bot's own other devices are matrix-nio's business (it answers verified ones).
    """
    client = gateway.client
    olm = client.olm
    if olm is None:
        return
    own_key = olm.account.identity_keys["curve25519"]
    for request in requests:
        sender, device_id = request.sender, request.requesting_device_id
        if sender == gateway.user_id or request.sender_key != own_key:
            continue
        extra = {"room_id": request.room_id, "sender": sender}
        room = client.rooms.get(request.room_id)
        outbound = olm.outbound_group_sessions.get(request.room_id)
        member = room is not None and sender in room.users and sender not in room.invited_users
        if not (
            member
            and outbound is not None
            and outbound.id == request.session_id
            and (sender, device_id) in outbound.users_shared_with
        ):
            log.info("key request not answered (not a session shared with it)", extra=extra)
            continue
        try:
            device = olm.device_store[sender][device_id]
        except KeyError:
            continue
        inbound = olm.inbound_group_store.get(request.room_id, own_key, request.session_id)
        olm_session = olm.session_store.get(device.curve25519)
        if inbound is None or olm_session is None:
            continue
        olm.outgoing_to_device_messages.append(
            olm._encrypt_forwarding_key(request.room_id, inbound, olm_session, device)
        )
        log.info("room key re-sent to %s on request", device_id, extra=extra)
    if olm.outgoing_to_device_messages:
        await client.send_to_device_messages()


class UndecryptableNotices:
    """Asks for keys of every undecryptable message; tells its sender, at most once an hour."""

    def __init__(
        self,
        *,
        gateway: MatrixGateway,
        database: Database,
        outbox: Outbox,
        renderer: MessageRenderer,
        clock: Clock,
        defaults: BotConfig,
    ) -> None:
        self.gateway = gateway
        self.database = database
        self.outbox = outbox
        self.renderer = renderer
        self.clock = clock
        self.defaults = defaults

    async def __call__(self, room_id: str, events: list[dict[str, Any]]) -> None:
        for raw in events:
            sender, event_id = raw.get("sender"), raw.get("event_id")
            if not isinstance(sender, str) or not isinstance(event_id, str):
                continue
            if sender == self.gateway.user_id:
                continue
            extra = {"room_id": room_id, "event_id": event_id, "sender": sender}
            log.warning("could not decrypt a message", extra=extra)
            await self.gateway.request_room_key(room_id, raw)
            sent_at = raw.get("origin_server_ts")
            if isinstance(sent_at, int) and self.clock.now() - from_millis(sent_at) > FRESH_FOR:
                continue
            self._notice(room_id, sender, event_id)

    def _notice(self, room_id: str, sender: str, event_id: str) -> None:
        now = self.clock.now()
        with self.database.session() as session:
            state = StateRepository(session)
            key = f"undecryptable_notice:{room_id}:{sender}"
            last = state.get(key)
            if last is not None and now - datetime.fromisoformat(last) < NOTICE_EVERY:
                return
            room = resolve(room_id, RoomSettingsRepository(session).get(room_id), self.defaults)
            name = self.gateway.display_name(room_id, sender)
            rendered = self.renderer.text(room.language, UNDECRYPTABLE, name=name)
            self.outbox.enqueue(
                session,
                key=f"undecryptable:{event_id}",
                room_id=room_id,
                content=notice_content(rendered, reply_to=event_id),
            )
            state.set(key, now.isoformat())
