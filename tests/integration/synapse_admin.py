"""Synapse's admin API, as the tests use it to see what a homeserver admin sees (devices)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import quote

from bot.tools.local_homeserver import LocalHomeserver


def admin_call(
    homeserver: LocalHomeserver, token: str, method: str, path: str, body: Any = None
) -> Any:
    request = urllib.request.Request(
        homeserver.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def devices(homeserver: LocalHomeserver, admin_token: str, user_id: str) -> set[str]:
    """The IDs of the user's devices, as the homeserver lists them."""
    found = admin_call(
        homeserver, admin_token, "GET", f"/_synapse/admin/v2/users/{quote(user_id)}/devices"
    )
    return {device["device_id"] for device in found["devices"]}
