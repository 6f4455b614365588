"""Runtime facts (sync token, filter ID) and the record of processed events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from storage.models import KeyValue, ProcessedEvent


class StateRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> str | None:
        row = self.session.get(KeyValue, key)
        return row.value if row else None

    def set(self, key: str, value: str) -> None:
        # One UPDATE, no load: the sync token is saved after every sync.
        result = self.session.execute(
            update(KeyValue).where(col(KeyValue.key) == key).values(value=value)
        )
        if not getattr(result, "rowcount", 0):
            self.session.add(KeyValue(key=key, value=value))


class ProcessedEventRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def seen(self, event_ids: list[str]) -> set[str]:
        """Which of these events were already handled."""
        if not event_ids:
            return set()
        rows = self.session.exec(
            select(ProcessedEvent.event_id).where(col(ProcessedEvent.event_id).in_(event_ids))
        )
        return set(rows)

    def add(self, event_id: str, room_id: str, now: datetime) -> None:
        self.session.add(ProcessedEvent(event_id=event_id, room_id=room_id, handled_at=now))

    def delete_older_than(self, moment: datetime) -> int:
        statement = delete(ProcessedEvent).where(col(ProcessedEvent.handled_at) < moment)
        result = self.session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)
