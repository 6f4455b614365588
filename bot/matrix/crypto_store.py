"""matrix-nio's key store, without a database write on every sync.

After every sync, nio saves the set of encrypted rooms the sync mentioned, even when it is
empty or already stored: a transaction (and peewee re-binding every model) per sync. Profiled
in the latency benchmark, that was about a tenth of the bot's busy time. Here only rooms not
saved yet are written; what is stored stays exactly nio's.
"""

from __future__ import annotations

from collections.abc import Iterable

from nio.store import DefaultStore


class CryptoStore(DefaultStore):
    def load_encrypted_rooms(self) -> set[str]:
        rooms: set[str] = set(super().load_encrypted_rooms())
        self.__dict__["saved_rooms"] = set(rooms)
        return rooms

    def save_encrypted_rooms(self, rooms: Iterable[str]) -> None:
        saved: set[str] = self.__dict__.setdefault("saved_rooms", set())
        new = set(rooms) - saved
        if new:
            super().save_encrypted_rooms(new)
            saved |= new
