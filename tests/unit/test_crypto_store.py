"""The bot's key store writes encrypted rooms only when new, and still remembers all of them."""

from __future__ import annotations

from nio.crypto import Olm

from bot.matrix.crypto_store import CryptoStore

USER, DEVICE, PICKLE_KEY = "@concerto:test", "CONCERTO", "pickle key"


def open_store(folder) -> CryptoStore:
    return CryptoStore(USER, DEVICE, str(folder), PICKLE_KEY)


def test_encrypted_rooms_survive_a_restart_and_are_written_once(tmp_path, monkeypatch):
    store = open_store(tmp_path)
    Olm(USER, DEVICE, store)  # creates and saves the account, as the client does at login
    assert store.load_encrypted_rooms() == set()
    written: list[set[str]] = []
    original = CryptoStore.__mro__[1].save_encrypted_rooms

    def recording(self, rooms):  # what reaches nio's own (writing) method
        written.append(set(rooms))
        return original(self, rooms)

    monkeypatch.setattr(CryptoStore.__mro__[1], "save_encrypted_rooms", recording)
    store.save_encrypted_rooms({"!a:test"})
    store.save_encrypted_rooms(set())  # a sync that mentions no encrypted room
    store.save_encrypted_rooms({"!a:test"})  # one already saved
    store.save_encrypted_rooms({"!a:test", "!b:test"})
    assert written == [{"!a:test"}, {"!b:test"}]

    assert open_store(tmp_path).load_encrypted_rooms() == {"!a:test", "!b:test"}
