"""The agenda repository: events and deadlines of a room, and the RSVPs to events."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlmodel import Session, and_, col, or_, select

from storage.agenda_models import AgendaItem, EventRsvp, OccurrenceException, OccurrenceMessage

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
        """Active items not over yet (an event is over at its end, else at its start; a
        recurring event at its last occurrence, never when it repeats without end)."""
        recurring = and_(
            col(AgendaItem.recurrence).is_not(None),
            or_(col(AgendaItem.last_at).is_(None), col(AgendaItem.last_at) >= now),
        )
        statement = (
            select(AgendaItem)
            .where(
                AgendaItem.room_id == room_id,
                AgendaItem.status == "active",
                or_(col(AgendaItem.starts_at) > now, col(AgendaItem.ends_at) > now, recurring),
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
        self,
        item_id: int,
        user_id: str,
        answer: str,
        reaction_event_id: str,
        now: datetime,
        occurs_at: datetime | None = None,
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
            occurs_at=occurs_at,
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

    def answers(self, item_id: int, occurs_at: datetime | None = None) -> dict[str, str]:
        """Each person's current answer: their latest RSVP reaction still in place (for one
        occurrence of a recurring event, named by its original start)."""
        occurrence = (
            col(EventRsvp.occurs_at).is_(None)
            if occurs_at is None
            else col(EventRsvp.occurs_at) == occurs_at
        )
        statement = (
            select(EventRsvp)
            .where(EventRsvp.item_id == item_id, occurrence)
            .order_by(col(EventRsvp.answered_at), col(EventRsvp.id))
        )
        return {rsvp.user_id: rsvp.answer for rsvp in self.session.exec(statement)}

    def rsvp_counts(self, item_id: int, occurs_at: datetime | None = None) -> dict[str, int]:
        """``{"going": 3, "maybe": 1, "not_going": 0}``."""
        counted = Counter(self.answers(item_id, occurs_at).values())
        return {answer: counted.get(answer, 0) for answer in ANSWERS}

    def going(self, item_id: int, occurs_at: datetime | None = None) -> list[str]:
        answers = self.answers(item_id, occurs_at)
        return sorted(user for user, answer in answers.items() if answer == "going")

    # --- recurring events ----------------------------------------------------------------

    def list_recurring(self) -> list[AgendaItem]:
        """Active recurring events of every room."""
        statement = select(AgendaItem).where(
            AgendaItem.status == "active", col(AgendaItem.recurrence).is_not(None)
        )
        return list(self.session.exec(statement.order_by(col(AgendaItem.id))))

    def list_recurring_ids(self) -> list[tuple[int, str]]:
        """(ID, kind) of the active recurring events of every room: what the start step needs
        to find those without a pending reminder, without reading thousands of rows."""
        statement = select(AgendaItem.id, AgendaItem.kind).where(
            AgendaItem.status == "active", col(AgendaItem.recurrence).is_not(None)
        )
        return [(item_id, kind) for item_id, kind in self.session.exec(statement) if item_id]

    def list_by_ids(self, item_ids: list[int]) -> list[AgendaItem]:
        found: list[AgendaItem] = []
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start : start + 500]
            statement = select(AgendaItem).where(col(AgendaItem.id).in_(chunk))
            found.extend(self.session.exec(statement.order_by(col(AgendaItem.id))))
        return found

    def exceptions(self, item_id: int) -> list[OccurrenceException]:
        statement = select(OccurrenceException).where(OccurrenceException.item_id == item_id)
        return list(self.session.exec(statement.order_by(col(OccurrenceException.occurs_at))))

    def exceptions_of(self, item_ids: list[int]) -> dict[int, list[OccurrenceException]]:
        """The exceptions of several series at once, by item ID (in chunks: SQL bounds)."""
        found: dict[int, list[OccurrenceException]] = {}
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start : start + 500]
            statement = select(OccurrenceException).where(
                col(OccurrenceException.item_id).in_(chunk)
            )
            for exception in self.session.exec(
                statement.order_by(col(OccurrenceException.occurs_at))
            ):
                found.setdefault(exception.item_id, []).append(exception)
        return found

    def set_exception(
        self,
        item_id: int,
        occurs_at: datetime,
        status: str,
        now: datetime,
        moved_to: datetime | None = None,
    ) -> OccurrenceException:
        """Cancel or move one occurrence (a second change of the same one replaces the first)."""
        exception = self.session.exec(
            select(OccurrenceException).where(
                OccurrenceException.item_id == item_id,
                OccurrenceException.occurs_at == occurs_at,
            )
        ).first()
        if exception is None:
            exception = OccurrenceException(
                item_id=item_id, occurs_at=occurs_at, status=status, created_at=now
            )
        exception.status, exception.moved_to, exception.created_at = status, moved_to, now
        self.session.add(exception)
        self.session.flush()
        return exception

    def add_occurrence_message(self, outbox_key: str, item_id: int, occurs_at: datetime) -> None:
        """A message about one occurrence is queued: reactions on it will answer for it."""
        exists = self.session.exec(
            select(OccurrenceMessage).where(OccurrenceMessage.outbox_key == outbox_key)
        ).first()
        if exists is None:
            self.session.add(
                OccurrenceMessage(outbox_key=outbox_key, item_id=item_id, occurs_at=occurs_at)
            )
            self.session.flush()

    def mark_occurrence_message_sent(self, outbox_key: str, event_id: str) -> None:
        message = self.session.exec(
            select(OccurrenceMessage).where(OccurrenceMessage.outbox_key == outbox_key)
        ).first()
        if message is not None and message.event_id is None:
            message.event_id = event_id

    def get_occurrence_message(self, event_id: str) -> OccurrenceMessage | None:
        statement = select(OccurrenceMessage).where(OccurrenceMessage.event_id == event_id)
        return self.session.exec(statement).first()

    def list_all(self, room_id: str) -> list[AgendaItem]:
        """Every item of a room, cancelled ones too, by date (the calendar feed)."""
        statement = (
            select(AgendaItem)
            .where(AgendaItem.room_id == room_id)
            .order_by(col(AgendaItem.starts_at), col(AgendaItem.id))
        )
        return list(self.session.exec(statement))
