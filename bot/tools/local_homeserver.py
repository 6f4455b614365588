"""A throwaway Synapse homeserver on 127.0.0.1, for the sandbox, integration tests and benchmarks.

``LocalHomeserver`` writes a minimal ``homeserver.yaml`` into a directory of its own, starts
Synapse from the current Python environment as a subprocess, and registers users through the
shared-secret admin API. The data lives in a SQLite file in that directory, so ``stop()`` followed
by ``start()`` (or ``pause()``/``resume()``) keeps every user, room and event.

The server is meant for tests and local trials only:

* it listens on 127.0.0.1 only and serves the client API (no federation);
* password hashing is cheap (``bcrypt_rounds: 4``);
* every rate limit is lifted, except that ``rate_limited=True`` keeps Synapse's default
  ``rc_message`` limit (about 10 messages in a burst, then ``429 M_LIMIT_EXCEEDED``) so that
  rate-limit handling can be exercised.

Synapse is an optional dependency: install it with ``pip install 'concerto[sandbox]'``.

Example::

    with LocalHomeserver(Path("hs")) as hs:
        alice = hs.register("alice", "secret")
        print(hs.url, alice.user_id, alice.access_token)
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

__all__ = [
    "HomeserverError",
    "LocalHomeserver",
    "RegisteredUser",
    "SynapseNotInstalledError",
]

INSTALL_HINT = "install the sandbox extra: pip install 'concerto[sandbox]'"

START_TIMEOUT = 60.0
"""Seconds to wait for ``/_matrix/client/versions`` to answer after starting Synapse."""

STOP_TIMEOUT = 10.0
"""Seconds to wait after SIGTERM before falling back to SIGKILL."""

_POLL_INTERVAL = 0.05
_LOG_TAIL_LINES = 40

_CONFIG_FILE = "homeserver.yaml"
_LOG_CONFIG_FILE = "log.config"
_LOG_FILE = "homeserver.log"
_SECRETS_FILE = "secrets.json"
_DATABASE_FILE = "homeserver.db"

# A rate of 0 would deny everything, so "unlimited" means huge numbers.
_UNLIMITED: dict[str, int] = {"per_second": 100_000, "burst_count": 100_000}

_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_registration_token_validity": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_3pid_validation": _UNLIMITED,
    "rc_third_party_invite": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_media_create": _UNLIMITED,
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_profile": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_admin_redaction": _UNLIMITED,
}

_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "formatters": {
        "precise": {
            "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s"
            " - %(message)s"
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "precise"}},
    "root": {"level": "WARNING", "handlers": ["console"]},
    "disable_existing_loggers": False,
}

# Servers started by this process, stopped at interpreter exit if still running (for example
# after Ctrl-C: Synapse runs in its own process group and would not get the SIGINT).
_running: weakref.WeakSet[LocalHomeserver] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop()


class HomeserverError(RuntimeError):
    """Synapse failed to start or stop, or an admin API call failed."""


class SynapseNotInstalledError(HomeserverError):
    """Synapse is not importable from the running Python environment."""


@dataclass(frozen=True)
class RegisteredUser:
    """A user created on the homeserver, with the device and token of its first login."""

    user_id: str
    access_token: str
    device_id: str
    password: str

    @property
    def localpart(self) -> str:
        """The part of the user ID between ``@`` and ``:``."""
        return self.user_id[1:].split(":", 1)[0]


def synapse_installed() -> bool:
    """Whether Synapse can be imported from the running Python environment."""
    return importlib.util.find_spec("synapse") is not None


def free_port() -> int:
    """Ask the kernel for a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalHomeserver:
    """A throwaway Synapse on 127.0.0.1, with its config and data in ``directory``.

    Args:
        directory: Folder for the config, signing key, secrets, SQLite database, media and log.
            It is created if missing. Reusing a folder reuses its data.
        port: TCP port to listen on; a free one is picked when omitted. The port stays the same
            across ``stop()``/``start()``.
        server_name: The Matrix server name (the part after ``:`` in user IDs).
        rate_limited: Keep Synapse's default ``rc_message`` limit instead of lifting it, for
            rate-limit drills. All other limits (logins, joins, registrations...) stay lifted.
        token_lifetime: If set (a Synapse duration such as ``"30s"``), access tokens from logins
            and registrations expire after it and are then refused with ``soft_logout: true``
            (Synapse's ``nonrefreshable_access_token_lifetime``), for soft-logout drills.
    """

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        server_name: str = "localhost",
        rate_limited: bool = False,
        token_lifetime: str | None = None,
    ) -> None:
        self._directory = Path(directory).resolve()
        self._port = port if port is not None else free_port()
        self._server_name = server_name
        self._rate_limited = rate_limited
        self._token_lifetime = token_lifetime
        self._process: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        """Base URL of the client API, such as ``http://127.0.0.1:8008``."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        """The TCP port Synapse listens on."""
        return self._port

    @property
    def server_name(self) -> str:
        """The Matrix server name, such as ``localhost``."""
        return self._server_name

    @property
    def directory(self) -> Path:
        """The folder holding the config and the data."""
        return self._directory

    @property
    def log_path(self) -> Path:
        """File that receives Synapse's standard output and error (warnings and worse)."""
        return self._directory / _LOG_FILE

    @property
    def is_running(self) -> bool:
        """Whether the Synapse process started by ``start()`` is still alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process ID of the running Synapse, or ``None``."""
        return self._process.pid if self.is_running and self._process else None

    def user_id(self, localpart: str) -> str:
        """The full user ID for ``localpart`` on this server."""
        return f"@{localpart}:{self._server_name}"

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Write the config, start Synapse and wait until its client API answers.

        Does nothing if the server is already running.

        Raises:
            SynapseNotInstalledError: Synapse is not installed in this Python environment.
            HomeserverError: Synapse exited or did not answer within ``timeout`` seconds; the
                message ends with the tail of its log.
        """
        if self.is_running:
            return
        if not synapse_installed():
            raise SynapseNotInstalledError(f"Synapse is not installed; {INSTALL_HINT}")
        self._directory.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._ensure_signing_key()

        log = self.log_path.open("ab")
        try:
            log.write(f"\n=== starting Synapse on {self.url} at {time.ctime()} ===\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "synapse.app.homeserver", "-c", _CONFIG_FILE],
                cwd=self._directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        _running.add(self)
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop Synapse: SIGTERM, wait up to ``timeout`` seconds, then SIGKILL.

        The data stays in the directory. Does nothing if the server is not running.
        """
        process = self._process
        self._process = None
        _running.discard(self)
        if process is None or process.poll() is not None:
            return
        self._signal(process, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(process, signal.SIGKILL)
            process.wait()

    def pause(self) -> None:
        """Take the homeserver down (for outage drills); ``resume()`` brings it back."""
        self.stop()

    def resume(self, timeout: float = START_TIMEOUT) -> None:
        """Start the homeserver again on the same port with the same data."""
        self.start(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<LocalHomeserver {self.url} {self._server_name} {state} in {self._directory}>"

    # ------------------------------------------------------------------ users

    def register(self, localpart: str, password: str, *, admin: bool = False) -> RegisteredUser:
        """Create a user through the shared-secret admin API and return its first login.

        Raises:
            HomeserverError: The server refused, for example ``M_USER_IN_USE`` for a taken name.
        """
        nonce = self._request("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(
            self._secrets()["registration_shared_secret"].encode(),
            b"\x00".join(
                [
                    nonce.encode(),
                    localpart.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            ),
            hashlib.sha1,
        ).hexdigest()
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac,
        }
        answer = self._request("POST", "/_synapse/admin/v1/register", body)
        return RegisteredUser(
            user_id=answer["user_id"],
            access_token=answer["access_token"],
            device_id=answer["device_id"],
            password=password,
        )

    def login(
        self, localpart: str, password: str, *, device_id: str | None = None
    ) -> RegisteredUser:
        """Log an existing user in with a password, creating a new device unless given one."""
        body: dict[str, Any] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": password,
        }
        if device_id is not None:
            body["device_id"] = device_id
        answer = self._request("POST", "/_matrix/client/v3/login", body)
        return RegisteredUser(
            user_id=answer["user_id"],
            access_token=answer["access_token"],
            device_id=answer["device_id"],
            password=password,
        )

    # ------------------------------------------------------------------ internals

    def _config(self) -> dict[str, Any]:
        secrets_ = self._secrets()
        config: dict[str, Any] = {
            "server_name": self._server_name,
            "public_baseurl": f"{self.url}/",
            "listeners": [
                {
                    "port": self._port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    # No "federation" resource: /_matrix/federation/* answers 404.
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            # A file, not ":memory:", so that a restart keeps the data.
            "database": {"name": "sqlite3", "args": {"database": f"./{_DATABASE_FILE}"}},
            "log_config": f"./{_LOG_CONFIG_FILE}",
            "media_store_path": "./media_store",
            "signing_key_path": f"./{self._signing_key_file}",
            "registration_shared_secret": secrets_["registration_shared_secret"],
            "macaroon_secret_key": secrets_["macaroon_secret_key"],
            "form_secret": secrets_["form_secret"],
            "report_stats": False,
            "enable_registration": False,
            "bcrypt_rounds": 4,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "dynamic_thumbnails": False,
            "thumbnail_sizes": [],
            "enable_metrics": False,
        }
        limits = dict(_RATE_LIMITS)
        if self._rate_limited:
            del limits["rc_message"]  # Synapse's default: per_second 0.2, burst_count 10
        config.update(limits)
        if self._token_lifetime is not None:
            config["nonrefreshable_access_token_lifetime"] = self._token_lifetime
        return config

    @property
    def _signing_key_file(self) -> str:
        return f"{self._server_name}.signing.key"

    def _write_config(self) -> None:
        header = "# Throwaway test homeserver written by Concerto. NOT for production.\n"
        text = header + yaml.safe_dump(self._config(), sort_keys=False)
        config_path = self._directory / _CONFIG_FILE
        config_path.write_text(text, encoding="utf-8")
        config_path.chmod(0o600)  # it holds the registration secret
        (self._directory / _LOG_CONFIG_FILE).write_text(
            yaml.safe_dump(_LOG_CONFIG, sort_keys=False), encoding="utf-8"
        )

    def _secrets(self) -> dict[str, str]:
        """Random secrets made once per directory, so that restarts keep them."""
        path = self._directory / _SECRETS_FILE
        if path.exists():
            loaded: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
            return loaded
        values = {
            name: secrets.token_urlsafe(32)
            for name in ("registration_shared_secret", "macaroon_secret_key", "form_secret")
        }
        self._directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(values, stream)
        return values

    def _ensure_signing_key(self) -> None:
        path = self._directory / self._signing_key_file
        if path.exists():
            return
        # signedjson is a dependency of Synapse; this avoids a second Synapse start-up.
        from signedjson.key import generate_signing_key, write_signing_keys

        version = "a_" + "".join(secrets.choice(string.ascii_letters) for _ in range(4))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            write_signing_keys(stream, [generate_signing_key(version)])

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = process.returncode if process is not None else None
                raise HomeserverError(
                    f"Synapse exited with code {code} while starting.\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(
                    f"{self.url}/_matrix/client/versions", timeout=1
                ) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise HomeserverError(
                    f"Synapse did not answer on {self.url} within {timeout:.0f} s.\n"
                    f"{self._log_tail()}"
                )
            time.sleep(_POLL_INTERVAL)

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "(no log)"
        tail = "\n".join(lines[-_LOG_TAIL_LINES:])
        return f"Last lines of {self.log_path}:\n{tail}"

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # Synapse runs in its own session, so signal its whole process group.
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            process.send_signal(sig)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", errors="replace")
            raise HomeserverError(f"{method} {path} failed: {error.code} {detail}") from error
        except OSError as error:
            raise HomeserverError(f"{method} {path} failed: {error}") from error
