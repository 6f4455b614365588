"""The agenda repository: events and deadlines of a room, and the RSVPs to events."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlmodel import Session, col, or_, select

from storage.agenda_models import AgendaItem, EventRsvp

EVENT = "event"
DEADLINE = "deadline"
ANSWERS = ("going", "maybe", "not_going")


class AgendaRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, item: AgendaItem) -> AgendaItem:
        self.session.add(item)
        self.session.flush()
        return item

    def get(self, item_id: int) -> AgendaItem | None:
        return self.session.get(AgendaItem, item_id)

    def get_in_room(self, item_id: int, room_id: str, kind: str) -> AgendaItem | None:
        """The item with this ID, only if it belongs to this room and kind (IDs are global)."""
        item = self.get(item_id)
        if item is None or item.room_id != room_id or item.kind != kind:
            return None
        return item

    def get_by_announcement(self, room_id: str, event_id: str) -> AgendaItem | None:
        statement = select(AgendaItem).where(
            AgendaItem.room_id == room_id, AgendaItem.announcement_event_id == event_id
        )
        return self.session.exec(statement).first()

    def list_upcoming(self, room_id: str, now: datetime, limit: int = 50) -> list[AgendaItem]:
        """Active items not over yet (an event is over at its end, else at its start)."""
        statement = (
            select(AgendaItem)
            .where(
                AgendaItem.room_id == room_id,
                AgendaItem.status == "active",
                or_(col(AgendaItem.starts_at) > now, col(AgendaItem.ends_at) > now),
            )
            .order_by(col(AgendaItem.starts_at), col(AgendaItem.id))
            .limit(limit)
        )
        return list(self.session.exec(statement))

    def mark_announced(self, item_id: int, event_id: str) -> None:
        item = self.get(item_id)
        if item is not None and item.announcement_event_id is None:
            item.announcement_event_id = event_id

    def mark_cancelled(self, item: AgendaItem, now: datetime) -> None:
        item.status, item.cancelled_at = "cancelled", now
        self.session.add(item)

    # --- RSVPs ---------------------------------------------------------------------------

    def add_rsvp(
        self, item_id: int, user_id: str, answer: str, reaction_event_id: str, now: datetime
    ) -> EventRsvp | None:
        """Record one RSVP reaction; the same reaction event twice is recorded once."""
        existing = self.session.exec(
            select(EventRsvp).where(EventRsvp.reaction_event_id == reaction_event_id)
        ).first()
        if existing is not None:
            return None
        rsvp = EventRsvp(
            item_id=item_id,
            user_id=user_id,
            answer=answer,
            reaction_event_id=reaction_event_id,
            answered_at=now,
        )
        self.session.add(rsvp)
        self.session.flush()
        return rsvp

    def delete_rsvp_by_reaction(self, reaction_event_id: str) -> bool:
        """A removed (redacted) reaction takes its answer away."""
        rsvp = self.session.exec(
            select(EventRsvp).where(EventRsvp.reaction_event_id == reaction_event_id)
        ).first()
        if rsvp is None:
            return False
        self.session.delete(rsvp)
        self.session.flush()
        return True

    def answers(self, item_id: int) -> dict[str, str]:
        """Each person's current answer: their latest RSVP reaction still in place."""
        statement = (
            select(EventRsvp)
            .where(EventRsvp.item_id == item_id)
            .order_by(col(EventRsvp.answered_at), col(EventRsvp.id))
        )
        return {rsvp.user_id: rsvp.answer for rsvp in self.session.exec(statement)}

    def rsvp_counts(self, item_id: int) -> dict[str, int]:
        """``{"going": 3, "maybe": 1, "not_going": 0}``."""
        counted = Counter(self.answers(item_id).values())
        return {answer: counted.get(answer, 0) for answer in ANSWERS}

    def going(self, item_id: int) -> list[str]:
        return sorted(user for user, answer in self.answers(item_id).items() if answer == "going")

    def list_all(self, room_id: str) -> list[AgendaItem]:
        """Every item of a room, cancelled ones too, by date (the calendar feed)."""
        statement = (
            select(AgendaItem)
            .where(AgendaItem.room_id == room_id)
            .order_by(col(AgendaItem.starts_at), col(AgendaItem.id))
        )
        return list(self.session.exec(statement))
