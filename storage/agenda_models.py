"""Tables of events and deadlines (the agenda) and of the RSVPs given by reaction.

Events and deadlines share one table (``kind``): they are listed, exported and cancelled
together. Their short IDs are the primary key with a prefix by kind (``E7``, ``D3``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class AgendaItem(SQLModel, table=True):
    """An announced event or deadline of one room."""

    __tablename__ = "agenda_item"
    __table_args__ = (Index("ix_agenda_room_starts", "room_id", "starts_at"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "event" | "deadline"
    room_id: str = Field(max_length=255)
    title: str = Field(max_length=300)
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    place: str | None = Field(default=None, max_length=300)
    link: str | None = Field(default=None, max_length=500)
    reminders: str = Field(default="", max_length=100)  # offsets as typed back: "7j, 1j, 1h"
    timezone: str = Field(max_length=64)  # the room's timezone when it was announced
    author: str = Field(max_length=255)
    status: str = Field(default="active", max_length=16)  # "active" | "cancelled"
    announcement_event_id: str | None = Field(default=None, max_length=255, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class EventRsvp(SQLModel, table=True):
    """One RSVP reaction; a person's answer is their latest reaction still in place."""

    __tablename__ = "event_rsvp"
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="agenda_item.id", index=True)
    user_id: str = Field(max_length=255)
    answer: str = Field(max_length=16)  # "going" | "maybe" | "not_going"
    reaction_event_id: str = Field(max_length=255, unique=True)
    # indexed for the daily retention purge
    answered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
