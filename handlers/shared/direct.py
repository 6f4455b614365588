"""The direct room the bot keeps with a person (`!mes-données`, anonymous ballots): reused
while they are in it, re-invited if they left, else created (encrypted when the bot can)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from bot.runtime.kit import FeatureGateway
from bot.text.errors import UserError
from bot.text.i18n import N_
from storage.privacy import PrivacyRepository

log = logging.getLogger(__name__)

DM_FAILED = N_("I could not open a direct conversation with you right now; please try again later.")


async def open_direct_room(
    gateway: FeatureGateway, session: Session, user_id: str, now: datetime, *, encrypted: bool
) -> str:
    """The direct room with ``user_id``: the stored one if they are still in it (or can be
    invited back), else a new one, created encrypted when ``encrypted``; a stored room that
    is not encrypted is not reused when ``encrypted``. Raises UserError if the homeserver
    refuses."""
    repository = PrivacyRepository(session)
    known = repository.get_direct_room(user_id)
    try:
        if (
            known is not None
            and encrypted
            and not gateway.is_encrypted(known)
            and not await gateway.fetch_is_encrypted(known)  # created but not synced yet
        ):
            known = None
        if known is not None:
            membership = await gateway.membership(known, user_id)
            if membership in ("join", "invite"):
                return known
            # they left: the bot is still there, invite them back
            if membership is not None and await gateway.invite(known, user_id):
                return known
        room_id = await gateway.create_direct_room(user_id, encrypted=encrypted)
    except Exception:
        log.exception("could not open a direct room", extra={"sender": user_id})
        raise UserError(DM_FAILED) from None
    if room_id is None:  # refused: the gateway logged why
        raise UserError(DM_FAILED)
    repository.set_direct_room(user_id, room_id, now)
    return room_id
