"""The polls' sent hook: the event IDs of the bot's poll start and notice, and the answer
reactions under a decision's message."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from bot.runtime.messages import reaction_content
from bot.runtime.outbox import Outbox
from handlers.polls.anonymous import is_anonymous
from handlers.polls.consent import ANSWERS
from storage.models import OutboxMessage
from storage.polls import PollRepository


def sent_hook(outbox: Outbox) -> Callable[[Session, OutboxMessage], None]:
    def on_sent(session: Session, message: OutboxMessage) -> None:
        """Learn the event IDs of the bot's poll start and notice (`poll:S2:start|notice`);
        under a decision's message, put the four answers as reactions, one click away."""
        parts = message.key.split(":")
        if len(parts) != 3 or not parts[1].startswith("S") or not parts[1][1:].isdigit():
            return
        poll = PollRepository(session).get(int(parts[1][1:]))
        if poll is None or message.event_id is None:
            return
        if parts[2] == "start":
            PollRepository(session).update(poll, start_event_id=message.event_id)
        elif parts[2] == "notice":
            PollRepository(session).update(poll, notice_event_id=message.event_id)
            if poll.kind == "consent" and not is_anonymous(poll):
                for answer_id, emoji, _ in ANSWERS:
                    outbox.enqueue(
                        session,
                        key=f"decisionchoices:{poll.short_id}:{answer_id}",
                        room_id=poll.room_id,
                        content=reaction_content(message.event_id, emoji),
                        event_type="m.reaction",
                    )

    return on_sent
