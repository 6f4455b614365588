"""`!événement depuis S4` (`!event from S4`): the best slot of a closed meeting poll (`!quand`)
becomes an event, titled with the poll's subject, with the room's usual reminders.

The agenda reads the poll through storage only (features never import each other): the slots
are kept with the poll (``Poll.settings["slots"]``) and the best one in its stored result.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from bot.text.errors import UserError
from bot.text.i18n import N_
from handlers.agenda.args import Draft, read_offsets
from storage.polls import PollRepository

FROM_POLL = re.compile(r"^(?:depuis|from)\s+[sS]?(\d{1,9})$", re.IGNORECASE)


def poll_number(text: str) -> int | None:
    """``depuis S4`` / ``from s4`` → 4; anything else is an ordinary event (None)."""
    match = FROM_POLL.match(" ".join(text.split()))
    return int(match.group(1)) if match else None


def draft_from_poll(
    session: Session, room_id: str, poll_id: int, *, now: datetime, default_reminders: str
) -> Draft:
    """The event a closed meeting poll's best slot makes; UserError saying why it cannot."""
    poll = PollRepository(session).get_in_room(room_id, poll_id)
    if poll is None or poll.kind != "when":
        raise UserError(
            N_("There is no meeting poll S{id} in this room (started with !quand)."), id=poll_id
        )
    if poll.status == "open":
        raise UserError(
            N_("Meeting poll S{id} is still open: close it first with !clore S{id}."), id=poll_id
        )
    winners = (poll.result or {}).get("winners") or []
    slots = (poll.settings or {}).get("slots") or []
    ids = [answer_id for answer_id, _ in poll.answers]
    if poll.status != "closed" or not winners or winners[0] not in ids:
        raise UserError(N_("Meeting poll S{id} has no best slot: nobody said yes."), id=poll_id)
    starts_at = datetime.fromisoformat(slots[ids.index(winners[0])])
    if starts_at <= now:
        raise UserError(N_("The best slot of S{id} is already past."), id=poll_id)
    return Draft(poll.question, starts_at, offsets=read_offsets(default_reminders))
