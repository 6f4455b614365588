"""End-to-end encryption: what is checked at start, and what happens with a message the bot
cannot decrypt.

- The crypto store (matrix-nio's SQLite store, vodozemac inside), its pickle key and the
  credentials belong together; where they live is ``bot.matrix.key_files``.
- At start, a store that does not match the device the server knows (store lost, device
  reused) is detected: encryption is then *broken*, and the bot refuses to act in encrypted
  rooms rather than send anything it could not encrypt properly.
- A message nobody shared the keys for gets one short notice per sender per hour, and the
  keys are requested from the sender's device and from the bot's own devices. (Members'
  requests for the bot's keys are answered by the gateway: ``bot.matrix.key_requests``.)
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.matrix.cross_signing import ensure_cross_signed
from bot.matrix.gateway import MatrixGateway
from bot.matrix.key_files import crypto_files, forget_credentials
from bot.runtime.clock import Clock, from_millis
from bot.runtime.config import BotConfig
from bot.runtime.messages import MessageRenderer, notice_content
from bot.runtime.outbox import Outbox
from bot.runtime.room_settings import resolve
from bot.text.i18n import N_
from storage.db import Database
from storage.rooms import RoomSettingsRepository
from storage.state import StateRepository

log = logging.getLogger(__name__)

NOTICE_EVERY = timedelta(hours=1)
STORE_LOST = "the crypto store does not hold this device's keys"
FRESH_FOR = timedelta(minutes=5)  # older undecryptable messages: keys requested, no notice
UNDECRYPTABLE = N_(
    "I could not decrypt the message {name} just sent: my device did not receive its keys. "
    "Please send it again; your app will then share the keys with me."
)


async def prepare(gateway: MatrixGateway, data_dir: Path, *, password: str) -> bool:
    """Check the store against the server, publish the device keys, cross-sign the device.

    Returns True when the bot can work in encrypted rooms. Otherwise the reason is logged,
    ``gateway.encryption_problem`` is set when keys cannot be trusted, and encrypted rooms
    are refused.
    """
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
    old_device = gateway.client.device_id
    log.warning(
        "the crypto store of device %s is lost: logging in again as a new device (messages "
        "sent before cannot be decrypted; remove the old device from the account's sessions)",
        old_device,
    )
    await gateway.close()
    forget_credentials(data_dir)
    files = crypto_files(data_dir)
    fresh = MatrixGateway(
        gateway.client.homeserver,
        gateway.user_id,
        gateway.device_name,
        store_path=files.store_path,
        pickle_key=files.pickle_key,
    )
    try:
        await fresh.login(data_dir, password=password, access_token="")
    except BaseException:
        await fresh.close()
        raise
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
