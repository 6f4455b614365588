"""Sync answers as the sync loop reads them, for tests of the loop without a homeserver."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

ROOM = "!r:test"


def batch(token: str, events: list[dict[str, Any]]) -> SimpleNamespace:
    """One sync answer: ``events`` in ``ROOM``'s timeline (not limited), nothing else."""
    timeline = SimpleNamespace(events=[SimpleNamespace(source=e) for e in events], limited=False)
    room = SimpleNamespace(timeline=timeline)
    return SimpleNamespace(
        next_batch=token, rooms=SimpleNamespace(invite={}, join={ROOM: room}, leave={})
    )
