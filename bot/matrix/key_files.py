"""The files of the bot's Matrix identity in the data dir, all owner-only:

- ``credentials.json``: homeserver, user, device ID and access token (as good as the
  password);
- ``crypto/``: matrix-nio's key store for that device (``<user>_<device>.db``), its
  ``pickle_key`` (a random secret that encrypts the store, generated once) and
  ``cross_signing.json`` (the account's cross-signing private keys).

The device ID, the access token and the store belong together: losing one makes the others
useless. Only paths and file handling live here; what the keys mean is the business of
``bot.matrix.crypto`` and ``bot.matrix.cross_signing``.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

CREDENTIALS_FILE = "credentials.json"
CRYPTO_DIR = "crypto"
PICKLE_KEY_FILE = "pickle_key"
CROSS_SIGNING_FILE = "cross_signing.json"


# --- credentials -------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str


def load_credentials(data_dir: Path) -> Credentials | None:
    path = data_dir / CREDENTIALS_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Credentials(**{key: data[key] for key in Credentials.__dataclass_fields__})


def save_credentials(data_dir: Path, credentials: Credentials) -> None:
    """Written owner-only: the access token is as good as the password."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CREDENTIALS_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(credentials.__dict__, handle)
    tmp.replace(path)


def forget_credentials(data_dir: Path) -> None:
    """Drop the stored session, so that the next login creates a new device."""
    (data_dir / CREDENTIALS_FILE).unlink(missing_ok=True)


# --- the crypto folder -------------------------------------------------------------------


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


def store_file(store_path: Path, user_id: str, device_id: str) -> Path:
    """The file matrix-nio's default store uses for this account and device."""
    return store_path / f"{user_id}_{device_id}.db"


def cross_signing_file(data_dir: Path) -> Path:
    """Where the account's cross-signing private keys are kept."""
    return data_dir / CRYPTO_DIR / CROSS_SIGNING_FILE


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
