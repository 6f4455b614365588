"""Invites, joins and leaves: join only for allowed inviters, never sit in an encrypted room
we cannot encrypt for, and leave rooms where the bot is alone."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.matrix.errors import TransientError
from bot.matrix.gateway import MatrixGateway
from bot.runtime.clock import Clock
from bot.runtime.timers import Timers
from storage.db import Database
from storage.web import WebLinkRepository

log = logging.getLogger(__name__)

# Invites and leaves carry one reason for everyone, so it is written in both languages.
ENCRYPTION_REFUSAL = (
    "Concerto cannot encrypt right now (its encryption keys are unavailable: the person who "
    "runs it can see why in its log) and never sends unencrypted messages into an encrypted "
    "room. / Concerto ne peut pas chiffrer pour le moment (ses clés de chiffrement sont "
    "indisponibles : la personne qui l'administre en verra la raison dans son journal) et "
    "n'envoie jamais de message en clair dans un salon chiffré."
)
INVITER_REFUSAL = "This inviter is not allowed to add Concerto to rooms."


class Membership:
    def __init__(
        self,
        *,
        gateway: MatrixGateway,
        database: Database,
        timers: Timers,
        clock: Clock,
        allowed_inviters: tuple[str, ...],
        can_encrypt: bool,
    ) -> None:
        self.gateway = gateway
        self.database = database
        self.timers = timers
        self.clock = clock
        self.allowed = [re.compile(pattern) for pattern in allowed_inviters]
        self.can_encrypt = can_encrypt

    def inviter_allowed(self, user_id: str) -> bool:
        return any(pattern.fullmatch(user_id) for pattern in self.allowed)

    async def handle_invite(self, room_id: str, invite_state: list[dict[str, Any]]) -> None:
        inviter, encrypted = "", False
        for event in invite_state:
            if not isinstance(event, dict):
                continue
            if (
                event.get("type") == "m.room.member"
                and event.get("state_key") == self.gateway.user_id
            ):
                inviter = str(event.get("sender", ""))
            if event.get("type") == "m.room.encryption":
                encrypted = True
        extra = {"room_id": room_id, "sender": inviter}
        if not self.inviter_allowed(inviter):
            log.info("invite rejected: inviter not allowed", extra=extra)
            await self.gateway.leave(room_id, INVITER_REFUSAL)
            return
        if encrypted and not self.can_encrypt:
            log.info("invite rejected: encrypted room", extra=extra)
            await self.gateway.leave(room_id, ENCRYPTION_REFUSAL)
            return
        if not await self.gateway.join(room_id):
            return
        if not self.can_encrypt and await self.gateway.fetch_is_encrypted(room_id):
            # The invite did not tell (nio drops that state): leave before doing anything.
            log.info("left an encrypted room right after joining", extra=extra)
            await self.forget_room(room_id, ENCRYPTION_REFUSAL)
            return
        log.info("joined room", extra=extra)

    async def room_became_encrypted(self, room_id: str) -> None:
        if self.can_encrypt:
            return
        log.warning("room turned on encryption: leaving", extra={"room_id": room_id})
        await self.forget_room(room_id, ENCRYPTION_REFUSAL)

    async def check_alone(self, room_id: str) -> None:
        """Leave (and cancel the room's scheduled work) when nobody else is left."""
        try:
            members = await self.gateway.joined_member_ids(room_id)
        except TransientError:
            return
        if [member for member in members if member != self.gateway.user_id]:
            return
        log.info("alone in the room: leaving", extra={"room_id": room_id})
        await self.forget_room(room_id, None)

    async def forget_room(self, room_id: str, reason: str | None) -> None:
        with self.database.session() as session:
            self.timers.cancel_room(session, room_id)
            WebLinkRepository(session).delete_room(room_id)
        await self.gateway.leave(room_id, reason)

    def room_left(self, room_id: str) -> None:
        """The bot is out of the room (it left, was kicked or banned): the room's web pages
        stop at once; its members get new links if the bot comes back."""
        with self.database.session() as session:
            WebLinkRepository(session).delete_room(room_id)
