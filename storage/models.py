"""Tables of the runtime: sync state, processed events, room settings, outbox, timers.

Feature tables live in their own modules (``storage/<feature>_models.py``) and are imported
by ``storage.tables`` so Alembic and the tests see every table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from storage.types import JSONText, UTCDateTime


class KeyValue(SQLModel, table=True):
    """Small runtime facts: the sync token, the sync filter ID."""

    __tablename__ = "key_value"
    key: str = Field(primary_key=True, max_length=100)
    value: str


class ProcessedEvent(SQLModel, table=True):
    """Events already handled: makes intake idempotent across replays and restarts."""

    __tablename__ = "processed_event"
    event_id: str = Field(primary_key=True, max_length=255)
    room_id: str = Field(max_length=255)
    handled_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class RoomSettings(SQLModel, table=True):
    """Per-room overrides; a NULL column means "use the configured default"."""

    __tablename__ = "room_settings"
    room_id: str = Field(primary_key=True, max_length=255)
    language: str | None = Field(default=None, max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    organiser_power_level: int | None = None
    digest_schedule: str | None = Field(default=None, max_length=32)
    digest_room: str | None = Field(default=None, max_length=255)
    event_reminders: str | None = Field(default=None, max_length=100)
    deadline_reminders: str | None = Field(default=None, max_length=100)
    tag_synonyms: dict[str, str] | None = Field(default=None, sa_column=Column(JSONText()))
    # the room's web pages on or off (`!réglages pages-web`); None: on unless the room is
    # encrypted
    web_pages: bool | None = Field(default=None)
    # nudges before a poll closes: opt-in, and never in rooms above nudge_max_members
    nudges: bool | None = None
    nudge_max_members: int | None = None
    joined_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class OutboxMessage(SQLModel, table=True):
    """One logical message to send, with the transaction ID it will always be sent with."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_status_sent", "status", "sent_at"),  # the daily retention scrub
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    room_id: str = Field(max_length=255)
    event_type: str = Field(max_length=128)
    content: dict[str, Any] = Field(sa_column=Column(JSONText(), nullable=False))
    txn_id: str = Field(max_length=128)
    # pending | sent | failed | expired (sent, and its stored copy emptied by the retention
    # purge: out of the purge's index range, so a year of old rows is never read again)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    event_id: str | None = Field(default=None, max_length=255)
    last_error: str | None = Field(default=None, max_length=500)


class ScheduledTask(SQLModel, table=True):
    """Work due at a time (reminders, poll closings, digests): the database is the truth."""

    __tablename__ = "scheduled_task"
    __table_args__ = (
        Index("ix_task_status_due", "status", "due_at"),
        # a room's tasks of a kind (its digest, its poll closings) among a year of reminders
        Index("ix_task_room_kind_status", "room_id", "kind", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    kind: str = Field(max_length=64)
    room_id: str = Field(max_length=255)
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(default="pending", max_length=16)
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONText(), nullable=False)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class WaitingCommand(SQLModel, table=True):
    """A command over its sender's pace, kept until its turn comes (survives a restart)."""

    __tablename__ = "waiting_command"
    __table_args__ = (Index("ix_waiting_command_due", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)  # arrival order, ties on due_at
    event_id: str = Field(max_length=255, unique=True)
    room_id: str = Field(max_length=255)
    sender: str = Field(max_length=255)
    event: dict[str, Any] = Field(sa_column=Column(JSONText(), nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
