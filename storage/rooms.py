"""Per-room settings, stored as overrides of the configured defaults."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from storage.models import RoomSettings


class RoomSettingsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, room_id: str) -> RoomSettings | None:
        return self.session.get(RoomSettings, room_id)

    def get_or_create(self, room_id: str) -> RoomSettings:
        row = self.get(room_id)
        if row is None:
            row = RoomSettings(room_id=room_id)
            self.session.add(row)
            self.session.flush()
        return row

    def update(self, room_id: str, **values: Any) -> RoomSettings:
        row = self.get_or_create(room_id)
        for name, value in values.items():
            if not hasattr(row, name):
                raise AttributeError(name)
            setattr(row, name, value)
        self.session.add(row)
        return row

    def mark_joined(self, room_id: str, moment: datetime) -> None:
        row = self.get_or_create(room_id)
        if row.joined_at is None:
            row.joined_at = moment
