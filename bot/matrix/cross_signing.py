"""Cross-signing of the bot's own device (matrix-nio does not do it).

Clients that follow the Matrix spec's recommendation (v1.18, MSC4153) hide messages from
devices their owner has not cross-signed, and do not send them room keys. So on its first
start the bot:

1. creates a master key, a self-signing key and a user-signing key (Ed25519), kept in
   ``<data_dir>/crypto/cross_signing.json`` (owner-only);
2. uploads their public parts (``POST /keys/device_signing/upload``), the self-signing and
   user-signing keys signed by the master key, answering the user-interactive auth with the
   account password (``matrix.password``, only needed that once);
3. signs its device keys with the self-signing key, and the master key with its device key,
   and uploads both signatures (``POST /keys/signatures/upload``).

Later starts find everything in place and do nothing. Signatures follow the spec's "Signing
JSON": Ed25519 over the canonical JSON of the object without ``signatures`` and ``unsigned``,
in unpadded base64.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from Crypto.Signature import eddsa

from bot.matrix.key_files import cross_signing_file, write_private

log = logging.getLogger(__name__)

QUERY = "/_matrix/client/v3/keys/query"
DEVICE_SIGNING_UPLOAD = "/_matrix/client/v3/keys/device_signing/upload"
SIGNATURES_UPLOAD = "/_matrix/client/v3/keys/signatures/upload"


# --- signing JSON ----------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """The spec's canonical JSON: sorted keys, no spaces, UTF-8, no escaping of non-ASCII."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    ).encode("utf-8")


def unpadded_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def decode_b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def signable(obj: dict[str, Any]) -> bytes:
    """What gets signed: the object without ``signatures`` and ``unsigned``."""
    return canonical_json({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")})


class SigningKey:
    """An Ed25519 key from its 32-byte seed."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self.seed = seed
        self._key = eddsa.import_private_key(seed)
        self.public = unpadded_b64(self._key.public_key().export_key(format="raw"))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(secrets.token_bytes(32))

    @property
    def key_id(self) -> str:
        return f"ed25519:{self.public}"

    def sign(self, message: bytes) -> str:
        return unpadded_b64(eddsa.new(self._key, "rfc8032").sign(message))

    def sign_json(self, obj: dict[str, Any], user_id: str) -> dict[str, Any]:
        """A copy of ``obj`` with this key's signature added under ``user_id``."""
        signature = self.sign(signable(obj))
        signed = dict(obj)
        signatures = {user: dict(keys) for user, keys in (obj.get("signatures") or {}).items()}
        signatures.setdefault(user_id, {})[self.key_id] = signature
        signed["signatures"] = signatures
        return signed


def verify_json(obj: dict[str, Any], user_id: str, key_id: str, public_key: str) -> bool:
    """Does ``obj`` carry a valid signature by ``public_key`` (named ``key_id``)?"""
    signature = ((obj.get("signatures") or {}).get(user_id) or {}).get(key_id)
    if not isinstance(signature, str):
        return False
    try:
        key = eddsa.import_public_key(decode_b64(public_key))
        eddsa.new(key, "rfc8032").verify(signable(obj), decode_b64(signature))
    except ValueError:
        return False
    return True


# --- the three keys --------------------------------------------------------------------


@dataclass
class CrossSigningKeys:
    master: SigningKey
    self_signing: SigningKey
    user_signing: SigningKey

    @classmethod
    def generate(cls) -> CrossSigningKeys:
        return cls(SigningKey.generate(), SigningKey.generate(), SigningKey.generate())

    @classmethod
    def load(cls, path: Path) -> CrossSigningKeys | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(*(SigningKey(decode_b64(data[name])) for name in _NAMES))

    def save(self, path: Path) -> None:
        data = {name: unpadded_b64(getattr(self, name).seed) for name in _NAMES}
        write_private(path, json.dumps(data))

    def public_keys(self, user_id: str) -> dict[str, dict[str, Any]]:
        """The upload body: master, and the two others signed by the master key."""
        master = _key_object(user_id, "master", self.master)
        self_signing = self.master.sign_json(
            _key_object(user_id, "self_signing", self.self_signing), user_id
        )
        user_signing = self.master.sign_json(
            _key_object(user_id, "user_signing", self.user_signing), user_id
        )
        return {
            "master_key": master,
            "self_signing_key": self_signing,
            "user_signing_key": user_signing,
        }


_NAMES = ("master", "self_signing", "user_signing")


def _key_object(user_id: str, usage: str, key: SigningKey) -> dict[str, Any]:
    return {"user_id": user_id, "usage": [usage], "keys": {key.key_id: key.public}}


# --- talking to the homeserver ---------------------------------------------------------


class Requester(Protocol):
    async def __call__(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]: ...


class DeviceSigner(Protocol):
    def __call__(self, obj: dict[str, Any]) -> str: ...


def _only_key(key_object: Any) -> str | None:
    keys = key_object.get("keys") if isinstance(key_object, dict) else None
    if isinstance(keys, dict) and len(keys) == 1:
        value = next(iter(keys.values()))
        return value if isinstance(value, str) else None
    return None


async def ensure_cross_signed(
    *,
    request: Requester,
    sign_with_device: DeviceSigner,
    user_id: str,
    device_id: str,
    data_dir: Path,
    password: str,
) -> bool:
    """Make sure the account has our cross-signing keys and our device is signed by them.

    Returns True when the device is cross-signed. Never raises for homeserver trouble: it
    logs what is missing, and the next start tries again.
    """
    path = cross_signing_file(data_dir)
    keys = CrossSigningKeys.load(path)
    if keys is None:
        keys = CrossSigningKeys.generate()
        keys.save(path)
    status, found = await request("POST", QUERY, {"device_keys": {user_id: []}})
    if status != 200:
        log.warning("cross-signing: could not query our own keys (HTTP %s)", status)
        return False
    server_master = _only_key((found.get("master_keys") or {}).get(user_id))
    server_self_signing = _only_key((found.get("self_signing_keys") or {}).get(user_id))
    if server_master != keys.master.public or server_self_signing != keys.self_signing.public:
        if server_master is not None:
            log.warning(
                "cross-signing: the account has other cross-signing keys than the bot's; "
                "replacing them (sessions verified with the old keys must verify again)"
            )
        if not await _upload_keys(request, keys, user_id, password):
            return False
    device = ((found.get("device_keys") or {}).get(user_id) or {}).get(device_id)
    if not isinstance(device, dict):
        log.warning("cross-signing: device %s has no keys on the server yet", device_id)
        return False
    if verify_json(device, user_id, keys.self_signing.key_id, keys.self_signing.public):
        return True
    return await _upload_signatures(request, sign_with_device, keys, user_id, device_id, device)


async def _upload_keys(
    request: Requester, keys: CrossSigningKeys, user_id: str, password: str
) -> bool:
    body: dict[str, Any] = keys.public_keys(user_id)
    status, answer = await request("POST", DEVICE_SIGNING_UPLOAD, body)
    if status == 401 and "session" in answer:
        if not password:
            log.warning(
                "cross-signing: the homeserver wants the account password to publish the "
                "bot's cross-signing keys, and none is configured. Start once with "
                "CONCERTO_MATRIX_PASSWORD set; until then clients that hide unverified "
                "devices will hide the bot's messages in encrypted rooms."
            )
            return False
        body["auth"] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
            "session": answer["session"],
        }
        status, answer = await request("POST", DEVICE_SIGNING_UPLOAD, body)
    if status != 200:
        log.warning(
            "cross-signing: key upload refused (HTTP %s, %s)",
            status,
            answer.get("errcode", "no error code"),
        )
        return False
    log.info("cross-signing: keys published (master %s)", keys.master.public)
    return True


async def _upload_signatures(
    request: Requester,
    sign_with_device: DeviceSigner,
    keys: CrossSigningKeys,
    user_id: str,
    device_id: str,
    device: dict[str, Any],
) -> bool:
    unsigned_device = {k: v for k, v in device.items() if k != "unsigned"}
    signed_device = keys.self_signing.sign_json(unsigned_device, user_id)
    master = _key_object(user_id, "master", keys.master)
    master["signatures"] = {user_id: {f"ed25519:{device_id}": sign_with_device(master)}}
    body = {user_id: {device_id: signed_device, keys.master.public: master}}
    status, answer = await request("POST", SIGNATURES_UPLOAD, body)
    failures = answer.get("failures") or {}
    if status != 200 or failures:
        log.warning("cross-signing: signature upload refused (HTTP %s): %s", status, failures)
        return False
    log.info("cross-signing: device %s signed by the self-signing key", device_id)
    return True
