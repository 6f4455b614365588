"""The outbox: logical messages with stable transaction IDs, sent once and only once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from storage.models import OutboxMessage


def transaction_id(key: str) -> str:
    """A transaction ID derived from the message key: the same key always maps to the same ID."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return f"concerto.{digest}"


@dataclass(frozen=True)
class PendingHead:
    """What the worker needs to decide whether to send a message now, without its content."""

    id: int
    room_id: str
    key: str
    next_attempt_at: datetime


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_many(self, message_ids: list[int]) -> list[OutboxMessage]:
        """These messages, oldest first."""
        statement = (
            select(OutboxMessage)
            .where(col(OutboxMessage.id).in_(message_ids))
            .order_by(col(OutboxMessage.id))
        )
        return list(self.session.exec(statement))

    def get_by_key(self, key: str) -> OutboxMessage | None:
        return self.session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).first()

    def add(
        self, *, key: str, room_id: str, event_type: str, content: dict[str, Any], now: datetime
    ) -> OutboxMessage | None:
        """Queue a message unless one with this key exists (then nothing is added: idempotent)."""
        if self.get_by_key(key) is not None:
            return None
        row = OutboxMessage(
            key=key,
            room_id=room_id,
            event_type=event_type,
            content=content,
            txn_id=transaction_id(key),
            next_attempt_at=now,
            created_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def list_pending(self, limit: int = 500) -> list[OutboxMessage]:
        """Pending messages, oldest first, whether due now or waiting for a retry."""
        statement = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending")
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
        return list(self.session.exec(statement))

    def list_pending_heads(self, limit: int) -> list[PendingHead]:
        """Pending messages, oldest first, without their content (the worker reads this list
        after every send: parsing every waiting message's content each time was measured as
        the bot's largest cost in a burst)."""
        statement = (
            select(
                OutboxMessage.id,
                OutboxMessage.room_id,
                OutboxMessage.key,
                OutboxMessage.next_attempt_at,
            )
            .where(OutboxMessage.status == "pending")
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
        return [PendingHead(*row) for row in self.session.exec(statement)]

    def backlog(self) -> tuple[int, datetime | None]:
        """How many messages wait to be sent, and when the oldest of them was queued."""
        statement = select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == "pending"
        )
        count, oldest = self.session.exec(statement).one()
        return int(count), oldest

    def retry_transient_now(self, now: datetime) -> None:
        """Bring forward the retries of messages that failed for lack of a connection."""
        for row in self.list_pending():
            if (
                row.attempts
                and row.next_attempt_at > now
                and row.last_error
                and (row.last_error.startswith("connection problem"))
            ):
                row.next_attempt_at = now

    def mark_sent(self, message_id: int, event_id: str, now: datetime) -> None:
        row = self.session.get(OutboxMessage, message_id)
        if row is not None:
            row.status, row.event_id, row.sent_at = "sent", event_id, now

    def mark_retry(self, message_id: int, error: str, retry_at: datetime) -> None:
        row = self.session.get(OutboxMessage, message_id)
        if row is not None:
            row.attempts += 1
            row.last_error = error[:500]
            row.next_attempt_at = retry_at

    def mark_failed(self, message_id: int, error: str) -> None:
        row = self.session.get(OutboxMessage, message_id)
        if row is not None:
            row.status, row.last_error = "failed", error[:500]
            row.attempts += 1

    def list_for_room(self, room_id: str) -> list[OutboxMessage]:
        statement = (
            select(OutboxMessage)
            .where(OutboxMessage.room_id == room_id)
            .order_by(col(OutboxMessage.id))
        )
        return list(self.session.exec(statement))
