"""Table of digest runs: one row per room and digest week, so a digest is never posted twice.

The unique (room, week) pair is the guard: a manual `!résumé publier` and the scheduled task
of the same week both try to insert it, and only the first one posts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class DigestRun(SQLModel, table=True):
    """A room's digest of one week, as posted: the period it covered and how it was triggered."""

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("room_id", "week", name="uq_digest_run_room_week"),)
    id: int | None = Field(default=None, primary_key=True)
    room_id: str = Field(max_length=255)
    week: str = Field(max_length=10, index=True)  # ISO week label, "2027-W10"
    period_start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    period_end: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    trigger: str = Field(max_length=16)  # "schedule" | "manual"
    published_by: str | None = Field(default=None, max_length=255)
    parts: int = 1
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
