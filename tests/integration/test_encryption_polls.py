"""Polls and reactions in an encrypted room, against the real Synapse and the real bot process.

- A `!sondage` gives an encrypted MSC3381 poll start that members' clients decrypt; votes sent
  encrypted are counted, whether the client keeps the relation inside the ciphertext as well
  (matrix-nio) or only in the cleartext wrapper (Element); `!clore` posts encrypted results
  and an encrypted end event whose relation stays readable, so clients can find it.
- Reactions: most clients send ``m.reaction`` unencrypted even in encrypted rooms (Element,
  matrix-nio), a few encrypt them and keep only the relation in cleartext; the bot counts
  both, for RSVPs (`!agenda`) and for proposal supports (`!propositions`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from encrypted_people import EncryptedPerson, MakeEncrypted, raw_messages
from matrix_people import joined, of_type, reaction_to, reply_to, text
from nio import Api, RoomSendResponse

POLL_START = "org.matrix.msc3381.poll.start"
POLL_RESPONSE = "org.matrix.msc3381.poll.response"
POLL_END = "org.matrix.msc3381.poll.end"
WAIT = 60  # seconds; the machine may be busy, every wait ends as soon as the event is there


def notice(bot_id: str, contains: str = ""):
    return text(sender=bot_id, contains=contains, msgtype="m.notice")


async def encrypted_room_with_two_members(
    make_bot: Callable[..., Awaitable[Any]], make_encrypted_person: MakeEncrypted
) -> tuple[Any, EncryptedPerson, EncryptedPerson, str]:
    """The bot, alice (creator, hence organiser) and bob, all in one encrypted room."""
    bot = await make_bot()
    alice = await make_encrypted_person("alice")
    bob = await make_encrypted_person("bob")
    room_id = await alice.create_encrypted_room("Groupe chiffré", invite=[bot.user_id])
    await alice.wait_for(room_id, joined(bot.user_id), timeout=WAIT)
    await alice.invite(room_id, bob.user_id)
    await bob.join(room_id)
    await alice.wait_for(room_id, joined(bob.user_id), timeout=WAIT)
    return bot, alice, bob, room_id


async def send_like_element(
    person: EncryptedPerson, room_id: str, event_type: str, content: dict[str, Any]
) -> str:
    """Send ``event_type`` encrypted the way Element does: the relation is taken out of the
    encrypted payload and put only in the cleartext ``m.room.encrypted`` wrapper.

    (matrix-nio keeps it in both places and never encrypts reactions; this is also how a
    client that does encrypt reactions sends them.)
    """
    client = person.client
    olm = client.olm
    assert olm is not None
    if not client.rooms[room_id].members_synced:
        await client.joined_members(room_id)
    if client.should_query_keys:
        await client.keys_query()
    if olm.should_share_group_session(room_id):
        await client.share_group_session(room_id, ignore_unverified_devices=True)
    inner = {key: value for key, value in content.items() if key != "m.relates_to"}
    wrapper = olm.group_encrypt(room_id, {"type": event_type, "content": inner})
    if "m.relates_to" in content:
        wrapper["m.relates_to"] = content["m.relates_to"]
    method, path, data = Api.room_send(
        client.access_token, room_id, "m.room.encrypted", wrapper, uuid.uuid4()
    )
    response = await client._send(RoomSendResponse, method, path, data, (room_id,))
    assert isinstance(response, RoomSendResponse), response
    person._last_sent[room_id] = response.event_id
    return str(response.event_id)


def poll_response(poll_event_id: str, *answers: str) -> dict[str, Any]:
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        POLL_RESPONSE: {"answers": list(answers)},
    }


def annotation(event_id: str, key: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}


async def test_encrypted_poll_is_decrypted_answered_and_closed(make_bot, make_encrypted_person):
    bot, alice, bob, room_id = await encrypted_room_with_two_members(
        make_bot, make_encrypted_person
    )

    asked = await alice.send_text(
        room_id, "!sondage Où pour la journée ESS ? ; Tours ; Orléans ; Blois ; choix: 2"
    )
    start = await alice.wait_for(
        room_id, of_type(POLL_START, sender=bot.user_id), after=asked, timeout=WAIT
    )
    confirmation = await alice.wait_for(
        room_id, notice(bot.user_id, "Sondage S1"), after=asked, timeout=WAIT
    )
    assert "Sondage S1 lancé : Où pour la journée ESS ?" in confirmation["content"]["body"]
    block = start["content"][POLL_START]
    assert block["question"]["org.matrix.msc1767.text"] == "Où pour la journée ESS ?"
    assert [a["org.matrix.msc1767.text"] for a in block["answers"]] == [
        "Tours",
        "Orléans",
        "Blois",
    ]
    assert block["max_selections"] == 2
    poll = start["event_id"]
    tours, _orleans, blois = (answer["id"] for answer in block["answers"])
    seen_by_bob = await bob.wait_for(room_id, lambda e: e.get("event_id") == poll, timeout=WAIT)
    assert seen_by_bob["type"] == POLL_START, "bob's client decrypts the poll too"

    # alice votes as Element sends it, bob as matrix-nio does: both encrypted on the wire
    voted_by_alice = await send_like_element(
        alice, room_id, POLL_RESPONSE, poll_response(poll, blois, tours)
    )
    voted_by_bob = await bob.send_event(room_id, POLL_RESPONSE, poll_response(poll, blois))

    closed = await alice.send_text(room_id, "!clore S1")
    results = await alice.wait_for(
        room_id, notice(bot.user_id, "Résultats du sondage S1"), after=closed, timeout=WAIT
    )
    body = results["content"]["body"]
    assert "1️⃣ Tours — 1 vote (33 %)" in body
    assert "2️⃣ Orléans — 0 vote (0 %)" in body
    assert "3️⃣ Blois — 2 votes (67 %)" in body
    assert "2 votants" in body
    assert "Réponse gagnante : Blois" in body
    assert results["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == closed
    end = await alice.wait_for(
        room_id, of_type(POLL_END, sender=bot.user_id), after=closed, timeout=WAIT
    )
    assert end["content"]["m.relates_to"] == {"rel_type": "m.reference", "event_id": poll}
    assert "Blois" in end["content"]["org.matrix.msc1767.text"]

    # What the server stores: only ciphertext, with the relations the server must see
    # (clients find votes and the end of a poll through /relations) left in cleartext.
    stored = {event["event_id"]: event for event in await raw_messages(alice, room_id)}
    for event_id in (poll, confirmation["event_id"], results["event_id"], voted_by_bob):
        assert stored[event_id]["type"] == "m.room.encrypted", event_id
    assert stored[voted_by_alice]["type"] == "m.room.encrypted"
    reference = {"rel_type": "m.reference", "event_id": poll}
    assert stored[voted_by_alice]["content"]["m.relates_to"] == reference
    assert stored[end["event_id"]]["type"] == "m.room.encrypted"
    assert stored[end["event_id"]]["content"]["m.relates_to"] == reference
    from_bot = [event for event in stored.values() if event["sender"] == bot.user_id]
    assert not [e for e in from_bot if e["type"] in (POLL_START, POLL_END, "m.room.message")]
    log = bot.log_text()
    assert "could not decrypt" not in log
    assert "Traceback" not in log


async def test_reactions_in_an_encrypted_room_count_as_rsvps_and_supports(
    make_bot, make_encrypted_person
):
    bot, alice, bob, room_id = await encrypted_room_with_two_members(
        make_bot, make_encrypted_person
    )

    asked = await alice.send_text(room_id, "!événement Atelier tiers-lieux ; 11 mai 2027 9h30")
    announcement = await alice.wait_for(
        room_id, notice(bot.user_id, "Événement E1"), after=asked, timeout=WAIT
    )
    assert "Événement E1 : Atelier tiers-lieux" in announcement["content"]["body"]
    await bob.wait_for(
        room_id, lambda e: e.get("event_id") == announcement["event_id"], timeout=WAIT
    )

    # bob's client (matrix-nio, like Element) sends the reaction in cleartext; alice's
    # encrypts it and leaves only the relation in cleartext, as a few clients do.
    going = await bob.react(room_id, announcement["event_id"], "✅")
    maybe = await send_like_element(
        alice, room_id, "m.reaction", annotation(announcement["event_id"], "🤔")
    )
    asked = await bob.send_text(room_id, "!agenda")
    agenda = await bob.wait_for(
        room_id, reply_to(bot.user_id, asked, msgtype="m.notice"), timeout=WAIT
    )
    assert "E1 — Atelier tiers-lieux — mardi 11 mai 2027 à 09:30" in agenda["content"]["body"]
    assert "✅ 1 · 🤔 1 · ❌ 0" in agenda["content"]["body"]

    proposed = await bob.send_text(room_id, "!proposition Un tiers-lieu à Blois #tierslieux")
    acknowledged = await bob.wait_for(
        room_id, reaction_to(proposed, "📝", sender=bot.user_id), timeout=WAIT
    )
    recorded = await bob.wait_for(
        room_id, reply_to(bot.user_id, proposed, msgtype="m.notice"), timeout=WAIT
    )
    assert recorded["content"]["body"].startswith("Proposition P1")
    supported = await alice.react(room_id, proposed, "👍")
    await bob.react(room_id, proposed, "👍")  # the author's own support is not counted
    asked = await alice.send_text(room_id, "!propositions #tierslieux")
    listing = await alice.wait_for(
        room_id, reply_to(bot.user_id, asked, msgtype="m.notice"), timeout=WAIT
    )
    assert "Un tiers-lieu à Blois" in listing["content"]["body"]
    assert "👍 1 ·" in listing["content"]["body"]

    stored = {event["event_id"]: event for event in await raw_messages(alice, room_id)}
    for event_id in (going, supported, acknowledged["event_id"]):  # as real clients send them
        assert stored[event_id]["type"] == "m.reaction", event_id
    assert stored[maybe]["type"] == "m.room.encrypted"
    for event_id in (announcement["event_id"], agenda["event_id"], listing["event_id"]):
        assert stored[event_id]["type"] == "m.room.encrypted", event_id
    log = bot.log_text()
    assert "could not decrypt" not in log
    assert "Traceback" not in log
