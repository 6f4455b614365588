"""Tables of events and deadlines (the agenda) and of the RSVPs given by reaction.

Events and deadlines share one table (``kind``): they are listed, exported and cancelled
together. Their short IDs are the primary key with a prefix by kind (``E7``, ``D3``).

A recurring event is one row too: its repetition rule (an iCalendar RRULE) and its first
occurrence (``starts_at``); the occurrences cancelled or moved are ``OccurrenceException`` rows,
so a weekly meeting for a year is two rows, not fifty-two. An occurrence is named by its
original start (``occurs_at``), which stays its name when it is moved.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, UniqueConstraint
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
    # A recurring event: the RRULE (wall time in BYHOUR/BYMINUTE, in ``timezone``), and the
    # start of its last occurrence when the rule ends (None: it repeats without end).
    recurrence: str | None = Field(default=None, max_length=200)
    last_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class EventRsvp(SQLModel, table=True):
    """One RSVP reaction; a person's answer is their latest reaction still in place."""

    __tablename__ = "event_rsvp"
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="agenda_item.id", index=True)
    user_id: str = Field(max_length=255)
    answer: str = Field(max_length=16)  # "going" | "maybe" | "not_going"
    reaction_event_id: str = Field(max_length=255, unique=True)
    # the occurrence answered for, by its original start (a recurring event); None otherwise
    occurs_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # indexed for the daily retention purge
    answered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class OccurrenceException(SQLModel, table=True):
    """One occurrence of a recurring event cancelled, or moved to ``moved_to``."""

    __tablename__ = "occurrence_exception"
    __table_args__ = (UniqueConstraint("item_id", "occurs_at", name="uq_occurrence_exception"),)
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="agenda_item.id", index=True)
    occurs_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(max_length=16)  # "cancelled" | "moved"
    moved_to: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OccurrenceMessage(SQLModel, table=True):
    """A message about one occurrence (its reminder, its move): reactions on it are RSVPs for
    that occurrence. Recorded under its outbox key; the event ID is learnt once sent."""

    __tablename__ = "occurrence_message"
    id: int | None = Field(default=None, primary_key=True)
    outbox_key: str = Field(max_length=255, unique=True)
    event_id: str | None = Field(default=None, max_length=255, index=True)
    item_id: int = Field(foreign_key="agenda_item.id")
    occurs_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
