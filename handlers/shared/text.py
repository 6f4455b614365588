"""Links to messages and short one-line texts, as every listing shows them."""

from __future__ import annotations

import re
from urllib.parse import quote

LIST_TEXT_LENGTH = 300  # a proposal as listings and digests show it
_SPACES = re.compile(r"\s+")


def message_link(room_id: str, event_id: str) -> str:
    """A matrix.to link to a message."""
    return f"https://matrix.to/#/{quote(room_id, safe='!:@$.')}/{quote(event_id, safe='$:@.')}"


def shorten(text: str, limit: int = LIST_TEXT_LENGTH) -> str:
    flat = _SPACES.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
