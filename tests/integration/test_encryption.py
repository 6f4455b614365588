"""Encrypted rooms: the bot decrypts commands, answers encrypted, survives a restart, has its
device cross-signed, tells people when it cannot decrypt, and never sends plaintext."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nio
import pytest
import vodozemac
from encrypted_people import EncryptedPerson, MakeEncrypted, query_keys, raw_messages
from matrix_people import MakeUser, Person

from bot.matrix.errors import SendError
from bot.matrix.gateway import MatrixGateway
from bot.tools.local_homeserver import LocalHomeserver


def notice_from(user_id: str, contains: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def match(event: dict[str, Any]) -> bool:
        content = event.get("content") or {}
        body = content.get("body")
        return (
            event.get("sender") == user_id
            and event.get("type") == "m.room.message"
            and content.get("msgtype") == "m.notice"
            and (contains is None or (isinstance(body, str) and contains in body))
        )

    return match


async def encrypted_room_with_bot(
    make_bot: Callable[..., Awaitable[Any]], make_encrypted_person: MakeEncrypted
) -> tuple[Any, EncryptedPerson, str]:
    bot = await make_bot()
    alice = await make_encrypted_person("alice")
    room_id = await alice.create_encrypted_room("Groupe chiffré", invite=[bot.user_id])
    await alice.wait_for(room_id, joined(bot.user_id), timeout=30)
    return bot, alice, room_id


async def test_help_round_trip_is_encrypted_and_survives_a_restart(make_bot, make_encrypted_person):
    started = time.monotonic()
    bot, alice, room_id = await encrypted_room_with_bot(make_bot, make_encrypted_person)

    asked = await alice.send_text(room_id, "!aide")
    reply = await alice.wait_for(room_id, notice_from(bot.user_id), after=asked, timeout=30)
    assert "Commandes que vous pouvez utiliser ici" in reply["content"]["body"]
    assert reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked
    first_round_trip = time.monotonic() - started

    # On the server, everything the bot said in the room is ciphertext.
    stored = {event["event_id"]: event for event in await raw_messages(alice, room_id)}
    assert stored[asked]["type"] == "m.room.encrypted"
    assert stored[reply["event_id"]]["type"] == "m.room.encrypted"
    from_bot = [event for event in stored.values() if event["sender"] == bot.user_id]
    assert not [e for e in from_bot if e["type"] == "m.room.message"]

    # A restart on the same data dir keeps the device and its keys.
    assert await bot.stop() == 0
    bot.start()
    asked = await alice.send_text(room_id, "!aide")
    reply = await alice.wait_for(room_id, notice_from(bot.user_id), after=asked, timeout=30)
    assert "Commandes que vous pouvez utiliser ici" in reply["content"]["body"]
    stored = {event["event_id"]: event for event in await raw_messages(alice, room_id)}
    assert stored[reply["event_id"]]["type"] == "m.room.encrypted"
    devices = (await query_keys(alice, bot.user_id))["device_keys"][bot.user_id]
    assert len(devices) == 1, "a restart must not create a new device"
    log = bot.log_text()
    assert "could not decrypt" not in log
    assert "Traceback" not in log
    print(f"\nfirst encrypted round trip (bot start included): {first_round_trip:.1f} s")


async def test_bot_device_is_cross_signed_by_its_account(make_bot, make_encrypted_person):
    bot, alice, room_id = await encrypted_room_with_bot(make_bot, make_encrypted_person)
    user = bot.user_id
    keys = await query_keys(alice, user)

    master = keys["master_keys"][user]
    assert master["usage"] == ["master"]
    (master_public,) = master["keys"].values()
    self_signing = keys["self_signing_keys"][user]
    assert self_signing["usage"] == ["self_signing"]
    (self_signing_public,) = self_signing["keys"].values()
    assert verify(self_signing, user, master_public)

    (device,) = keys["device_keys"][user].values()
    assert verify(device, user, self_signing_public)
    device_id = device["device_id"]
    assert verify(device, user, device["keys"][f"ed25519:{device_id}"], key_name=device_id)

    # A restart neither replaces the keys nor signs again.
    assert await bot.stop() == 0
    bot.start()
    asked = await alice.send_text(room_id, "!aide")
    await alice.wait_for(room_id, notice_from(bot.user_id), after=asked, timeout=30)
    again = await query_keys(alice, user)
    assert again["master_keys"][user]["keys"] == master["keys"]
    assert bot.log_text().count("cross-signing: keys published") == 1
    assert bot.log_text().count("signed by the self-signing key") == 1
    key_file = bot.directory / "data" / "crypto" / "cross_signing.json"
    assert key_file.stat().st_mode & 0o777 == 0o600
    pickle_key = bot.directory / "data" / "crypto" / "pickle_key"
    assert pickle_key.stat().st_mode & 0o777 == 0o600


def verify(obj: dict[str, Any], user_id: str, public: str, *, key_name: str | None = None) -> bool:
    """Check a signature independently of the bot's code (vodozemac's Ed25519)."""
    key_id = f"ed25519:{key_name or public}"
    signature = obj["signatures"][user_id][key_id]
    unsigned = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    canonical = json.dumps(unsigned, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    try:
        vodozemac.Ed25519PublicKey.from_base64(public).verify_signature(
            canonical.encode(), vodozemac.Ed25519Signature.from_base64(signature)
        )
    except vodozemac.SignatureException:
        return False
    return True


async def test_undecryptable_message_gets_one_notice_per_sender(
    make_bot, make_encrypted_person, make_person
):
    bot, alice, room_id = await encrypted_room_with_bot(make_bot, make_encrypted_person)
    mallory = await make_person("mallory")
    await alice.invite(room_id, mallory.user_id)
    await mallory.join(room_id)

    first = await send_unshared_megolm(mallory, room_id)
    notice = await alice.wait_for(
        room_id, notice_from(bot.user_id, "pas pu déchiffrer"), after=first, timeout=30
    )
    assert notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == first
    assert mallory.user.localpart in notice["content"]["body"]

    second = await send_unshared_megolm(mallory, room_id)
    await alice.wait_for(room_id, lambda e: e.get("event_id") == second, timeout=30)
    asked = await alice.send_text(room_id, "!aide")
    reply = await alice.wait_for(room_id, notice_from(bot.user_id), after=asked, timeout=30)
    received = alice.events(room_id)
    ids = [event.get("event_id") for event in received]
    between = received[ids.index(notice["event_id"]) + 1 : ids.index(reply["event_id"])]
    assert not [e for e in between if notice_from(bot.user_id, "pas pu déchiffrer")(e)]
    assert "could not decrypt a message" in bot.log_text()


async def send_unshared_megolm(person: Person, room_id: str) -> str:
    """A Megolm message whose session was never shared with anyone."""
    session = vodozemac.GroupSession()
    payload = {
        "type": "m.room.message",
        "content": {"msgtype": "m.text", "body": "!aide"},
        "room_id": room_id,
    }
    ciphertext = session.encrypt(json.dumps(payload).encode()).to_base64()
    content = {
        "algorithm": "m.megolm.v1.aes-sha2",
        "sender_key": vodozemac.Curve25519SecretKey().public_key().to_base64(),
        "ciphertext": ciphertext,
        "session_id": session.session_id,
        "device_id": person.user.device_id,
    }
    return await person.send_event(room_id, "m.room.encrypted", content)


async def test_gateway_without_encryption_never_sends_into_an_encrypted_room(
    homeserver: LocalHomeserver, make_user: MakeUser, make_encrypted_person
):
    alice = await make_encrypted_person("alice")
    account = await make_user("plain")
    room_id = await alice.create_encrypted_room("Chiffré", invite=[account.user_id])
    gateway = MatrixGateway(homeserver.url, account.user_id, "plain")  # no crypto store
    try:
        gateway.client.restore_login(account.user_id, account.device_id, account.access_token)
        assert gateway.client.olm is None
        assert await gateway.join(room_id)
        await gateway.sync(since=None, timeout_ms=0, sync_filter=None, full_state=True)
        assert gateway.is_encrypted(room_id)
        with pytest.raises(SendError) as refused:
            await gateway.send(
                room_id, "m.room.message", {"msgtype": "m.text", "body": "secret"}, "t1"
            )
        assert refused.value.permanent
    finally:
        await gateway.close()
    stored = await raw_messages(alice, room_id)
    assert not [
        e for e in stored if e["sender"] == account.user_id and e["type"] != "m.room.member"
    ]
    assert not [e for e in stored if (e.get("content") or {}).get("body") == "secret"]


async def test_sessions_rotate_when_a_member_leaves_and_members_get_keys_again(
    make_bot, make_encrypted_person, make_person
):
    bot, alice, room_id = await encrypted_room_with_bot(make_bot, make_encrypted_person)
    bob = await make_encrypted_person("bob")
    await alice.invite(room_id, bob.user_id)
    await bob.join(room_id)
    await alice.wait_for(room_id, joined(bob.user_id), timeout=30)

    asked = await alice.send_text(room_id, "!aide")
    first = await alice.wait_for(room_id, notice_from(bot.user_id), after=asked, timeout=30)
    seen_by_bob = await bob.wait_for(
        room_id, lambda e: e.get("event_id") == first["event_id"], timeout=30
    )
    assert seen_by_bob["type"] == "m.room.message", "bob decrypts the reply"
    stored = {event["event_id"]: event for event in await raw_messages(alice, room_id)}
    first_raw = stored[first["event_id"]]
    first_session = first_raw["content"]["session_id"]

    # A member's device asks the bot again for the key of its current session: answered.
    # A stranger asking first gets nothing.
    (bot_device,) = (await query_keys(alice, bot.user_id))["device_keys"][bot.user_id]
    forwarded: list[dict[str, Any]] = []
    olm = alice.client.olm
    assert olm is not None
    original = olm._handle_forwarded_room_key_event

    def spy(sender: str, sender_key: str, payload: dict[str, Any]) -> Any:
        forwarded.append(payload)
        return original(sender, sender_key, payload)

    olm._handle_forwarded_room_key_event = spy  # type: ignore[method-assign]
    mallory = await make_person("mallory")
    megolm = nio.MegolmEvent.from_dict(first_raw)
    megolm.room_id = room_id
    await mallory.client.to_device(
        megolm.as_key_request(bot.user_id, mallory.user.device_id, "m1", bot_device)
    )
    await alice.client.to_device(
        megolm.as_key_request(bot.user_id, alice.user.device_id, "a1", bot_device)
    )
    async with alice._changed, asyncio.timeout(30):
        await alice._changed.wait_for(lambda: bool(forwarded))
    content = forwarded[0]["content"]
    assert forwarded[0]["sender"] == bot.user_id
    assert content["session_id"] == first_session and content["session_key"]
    assert "key request not answered" in bot.log_text()

    # Bob leaves: the bot's next message uses a new session that bob never gets.
    await bob.leave(room_id)
    await alice.wait_for(room_id, left(bob.user_id), timeout=30)
    asked = await alice.send_text(room_id, "!aide")
    second = await alice.wait_for(room_id, notice_from(bot.user_id), after=asked, timeout=30)
    stored = {event["event_id"]: event for event in await raw_messages(alice, room_id)}
    assert stored[second["event_id"]]["content"]["session_id"] != first_session


def joined(user_id: str) -> Callable[[dict[str, Any]], bool]:
    def match(event: dict[str, Any]) -> bool:
        return (
            event.get("type") == "m.room.member"
            and event.get("state_key") == user_id
            and (event.get("content") or {}).get("membership") == "join"
        )

    return match


def left(user_id: str) -> Callable[[dict[str, Any]], bool]:
    def match(event: dict[str, Any]) -> bool:
        return (
            event.get("type") == "m.room.member"
            and event.get("state_key") == user_id
            and (event.get("content") or {}).get("membership") == "leave"
        )

    return match


async def test_lost_store_starts_a_new_device_and_says_what_it_cannot_read(
    make_bot, make_encrypted_person
):
    bot, alice, room_id = await encrypted_room_with_bot(make_bot, make_encrypted_person)
    asked = await alice.send_text(room_id, "!aide")
    await alice.wait_for(room_id, notice_from(bot.user_id), after=asked, timeout=30)
    (old_device,) = (await query_keys(alice, bot.user_id))["device_keys"][bot.user_id]

    assert await bot.stop() == 0
    crypto_dir = bot.directory / "data" / "crypto"
    for path in crypto_dir.iterdir():  # store, pickle key and cross-signing keys: all gone
        path.unlink()
    unreadable = await alice.send_text(room_id, "!aide")  # encrypted for the old device
    bot.start()

    notice = await alice.wait_for(
        room_id, notice_from(bot.user_id, "pas pu déchiffrer"), after=unreadable, timeout=30
    )
    assert notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == unreadable
    asked = await alice.send_text(room_id, "!aide")
    reply = await alice.wait_for(room_id, notice_from(bot.user_id), after=asked, timeout=30)
    assert "Commandes que vous pouvez utiliser ici" in reply["content"]["body"]
    log = bot.log_text()
    assert "logging in again as a new device" in log

    keys = await query_keys(alice, bot.user_id)
    devices = keys["device_keys"][bot.user_id]
    (new_device,) = [device for device in devices if device != old_device]
    (self_signing_public,) = keys["self_signing_keys"][bot.user_id]["keys"].values()
    (master_public,) = keys["master_keys"][bot.user_id]["keys"].values()
    assert verify(devices[new_device], bot.user_id, self_signing_public)
    assert verify(keys["self_signing_keys"][bot.user_id], bot.user_id, master_public)
    stored = {event["event_id"]: event for event in await raw_messages(alice, room_id)}
    assert stored[reply["event_id"]]["type"] == "m.room.encrypted"


async def test_lost_store_without_password_refuses_encrypted_rooms_and_leaks_nothing(
    make_bot, make_encrypted_person
):
    bot, alice, room_id = await encrypted_room_with_bot(make_bot, make_encrypted_person)
    asked = await alice.send_text(room_id, "!aide")
    await alice.wait_for(room_id, notice_from(bot.user_id), after=asked, timeout=30)
    assert await bot.stop() == 0
    for path in (bot.directory / "data" / "crypto").iterdir():
        path.unlink()
    bot.extra_env["CONCERTO_MATRIX_PASSWORD"] = ""
    bot.start()

    secret_room = await alice.create_encrypted_room("Nouveau", invite=[bot.user_id])
    rejection = await alice.wait_for(secret_room, left(bot.user_id), timeout=30)
    assert "chiffr" in rejection["content"].get("reason", "")
    assert "crypto store does not hold" in bot.log_text()

    # Nothing at all from the bot in the old room: no plaintext, no notice it cannot encrypt.
    asked = await alice.send_text(room_id, "!aide")
    await alice.assert_no_event(room_id, lambda e: e.get("sender") == bot.user_id, after=asked)
    stored = await raw_messages(alice, room_id)
    assert not [e for e in stored if e["sender"] == bot.user_id and e["type"] == "m.room.message"]


async def test_many_commands_at_once_in_an_encrypted_room_all_get_decryptable_replies(
    make_bot, make_encrypted_person
):
    bot, alice, room_id = await encrypted_room_with_bot(make_bot, make_encrypted_person)
    asked = await asyncio.gather(*(alice.send_text(room_id, f"!aide aide {i}") for i in range(12)))

    def answers(event_id: str) -> Callable[[dict[str, Any]], bool]:
        def match(event: dict[str, Any]) -> bool:
            content = event.get("content") or {}
            relation = content.get("m.relates_to") or {}
            return (
                event.get("sender") == bot.user_id
                and (relation.get("m.in_reply_to") or {}).get("event_id") == event_id
            )

        return match

    for event_id in asked:  # every reply decrypts (replies go out in parallel, keys once)
        await alice.wait_for(room_id, answers(event_id), timeout=60)
    assert "Traceback" not in bot.log_text()
