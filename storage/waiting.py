"""Commands waiting for their turn: written when a person goes over the pace, read by due time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.models import WaitingCommand


class WaitingCommandRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self, *, event_id: str, room_id: str, sender: str, event: dict[str, Any], due_at: datetime
    ) -> WaitingCommand:
        row = WaitingCommand(
            event_id=event_id, room_id=room_id, sender=sender, event=event, due_at=due_at
        )
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, row_id: int) -> WaitingCommand | None:
        return self.session.get(WaitingCommand, row_id)

    def find(self, event_id: str) -> WaitingCommand | None:
        statement = select(WaitingCommand).where(WaitingCommand.event_id == event_id)
        return self.session.exec(statement).first()

    def due_ids(self, now: datetime) -> list[int]:
        """IDs of the commands whose turn has come, in the order they are to run."""
        statement = (
            select(WaitingCommand.id)
            .where(col(WaitingCommand.due_at) <= now)
            .order_by(col(WaitingCommand.due_at), col(WaitingCommand.id))
        )
        return [row_id for row_id in self.session.exec(statement) if row_id is not None]

    def next_due_at(self) -> datetime | None:
        statement = select(WaitingCommand.due_at).order_by(col(WaitingCommand.due_at)).limit(1)
        return self.session.exec(statement).first()

    def list_all(self) -> list[WaitingCommand]:
        statement = select(WaitingCommand).order_by(
            col(WaitingCommand.due_at), col(WaitingCommand.id)
        )
        return list(self.session.exec(statement))

    def remove(self, row_id: int) -> None:
        self.session.execute(delete(WaitingCommand).where(col(WaitingCommand.id) == row_id))
