"""Tables of the privacy feature: direct rooms used to send people their data, pending
`!oublie-moi` requests waiting for confirmation, and the proposals erased at their author's
request (so exports and digests can tell an anonymised proposal from a real one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class PrivacyDirectRoom(SQLModel, table=True):
    """The direct-message room the bot opened with a person; later requests reuse it."""

    __tablename__ = "privacy_direct_room"
    user_id: str = Field(primary_key=True, max_length=255)
    room_id: str = Field(max_length=255)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class PrivacyForgetRequest(SQLModel, table=True):
    """A first `!oublie-moi`: erasure happens if the person repeats it in time."""

    __tablename__ = "privacy_forget_request"
    user_id: str = Field(primary_key=True, max_length=255)
    room_id: str = Field(max_length=255)
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class PrivacyErasedProposal(SQLModel, table=True):
    """A proposal whose text was replaced at its author's request (no trace of who)."""

    __tablename__ = "privacy_erased_proposal"
    proposal_id: int = Field(primary_key=True)
    erased_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
