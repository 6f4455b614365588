"""Answering members' requests for a room key the bot created (part of the gateway's key
upkeep after each sync).

A member's device that missed a room key asks for it with a to-device ``m.room_key_request``.
matrix-nio only answers the account's own verified devices, so members' requests are
answered here, when it is safe.
"""

from __future__ import annotations

import logging

import nio

log = logging.getLogger(__name__)


async def answer_key_requests(
    client: nio.AsyncClient, user_id: str, requests: list[nio.RoomKeyRequest]
) -> None:
    """Re-send a room key to a member's device that asks for it, when it is safe.

    Only for a session the bot itself created (its own Megolm session of the room, still in
    use) and only to a device of a current member that this session was already shared
    with: the answer never gives anyone a key they were not meant to have. Requests from the
    bot's own other devices (``user_id``) are matrix-nio's business (it answers verified
    ones).
    """
    olm = client.olm
    if olm is None:
        return
    own_key = olm.account.identity_keys["curve25519"]
    for request in requests:
        sender, device_id = request.sender, request.requesting_device_id
        if sender == user_id or request.sender_key != own_key:
            continue
        extra = {"room_id": request.room_id, "sender": sender}
        room = client.rooms.get(request.room_id)
        outbound = olm.outbound_group_sessions.get(request.room_id)
        member = room is not None and sender in room.users and sender not in room.invited_users
        if not (
            member
            and outbound is not None
            and outbound.id == request.session_id
            and (sender, device_id) in outbound.users_shared_with
        ):
            log.info("key request not answered (not a session shared with it)", extra=extra)
            continue
        try:
            device = olm.device_store[sender][device_id]
        except KeyError:
            continue
        inbound = olm.inbound_group_store.get(request.room_id, own_key, request.session_id)
        olm_session = olm.session_store.get(device.curve25519)
        if inbound is None or olm_session is None:
            continue
        olm.outgoing_to_device_messages.append(
            olm._encrypt_forwarding_key(request.room_id, inbound, olm_session, device)
        )
        log.info("room key re-sent to %s on request", device_id, extra=extra)
    if olm.outgoing_to_device_messages:
        await client.send_to_device_messages()
