"""Tables of proposals: the proposal (one per Matrix message), its tags, and reactions on it.

Tags are kept as written (``display``) and folded with the room's synonyms applied when the
proposal was recorded (``folded``); listing applies the current synonyms again, so a synonym
added later still groups older proposals. Reactions that matter (👍 supports, organisers'
⭐/🗄️ marks) are one row per reaction event, so removing a reaction removes exactly that row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class Proposal(SQLModel, table=True):
    """A proposal made in a room, by a command or by a message carrying ``#proposition``."""

    __tablename__ = "proposal"
    __table_args__ = (
        Index("ix_proposal_room_created", "room_id", "created_at"),
        Index("ix_proposal_created", "created_at"),  # the daily retention purge
    )
    id: int | None = Field(default=None, primary_key=True)
    room_id: str = Field(max_length=255)
    event_id: str = Field(max_length=255, unique=True)  # the message people react to
    thread_root: str | None = Field(default=None, max_length=255)
    author: str = Field(max_length=255)
    text: str
    source: str = Field(max_length=16)  # "command" or "message"
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    edited_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    @property
    def short_id(self) -> str:
        return f"P{self.id}"


class ProposalTag(SQLModel, table=True):
    """One hashtag of a proposal, in the order written."""

    __tablename__ = "proposal_tag"
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(
        sa_column=Column(
            Integer(), ForeignKey("proposal.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    folded: str = Field(max_length=64, index=True)
    display: str = Field(max_length=64)
    position: int = 0


class ProposalReaction(SQLModel, table=True):
    """A reaction that counts: a 👍 support, or an organiser's ⭐ retained / 🗄️ set aside."""

    __tablename__ = "proposal_reaction"
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(
        sa_column=Column(
            Integer(), ForeignKey("proposal.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    reaction_event_id: str = Field(max_length=255, unique=True)
    user_id: str = Field(max_length=255)
    kind: str = Field(max_length=16)  # "support", "retained", "set_aside"
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
