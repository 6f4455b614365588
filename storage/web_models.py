"""Tables of the web service: each room's capability links (calendar feed, digest archive,
proposals page). A link is its token: whoever holds it may read what it shows, so replacing a
link deletes the old token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class WebLink(SQLModel, table=True):
    """The current link of one kind (`agenda`, `digest`, `proposals`) for one room."""

    __tablename__ = "web_link"
    __table_args__ = (UniqueConstraint("room_id", "kind", name="uq_web_link_room_kind"),)
    id: int | None = Field(default=None, primary_key=True)
    room_id: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    token: str = Field(max_length=64, unique=True)  # 192 random bits, URL-safe base64
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
