"""Tables of polls: each poll (started by the bot or by a person's client) and its ballots.

Ballots are kept as a log (native responses, number-emoji reactions and their removals) so the
tally can always be recomputed with the same rules, e.g. for the weekly digest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from storage.types import JSONText, UTCDateTime


class Poll(SQLModel, table=True):
    """A poll; its short ID is ``S`` + ``id``. ``origin`` is "command" or "client".

    ``kind`` is "choice" (a native choose-N poll) or "consent" (a `!décision`, voted by
    reactions); ``settings`` holds the options given at creation that change how it is
    counted or shown."""

    __tablename__ = "poll"
    id: int | None = Field(default=None, primary_key=True)
    room_id: str = Field(max_length=255, index=True)
    author: str = Field(max_length=255)
    origin: str = Field(default="command", max_length=16)
    kind: str = Field(default="choice", max_length=16)
    settings: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONText()))
    question: str
    answers: list[list[str]] = Field(sa_column=Column(JSONText(), nullable=False))
    max_selections: int = 1
    start_event_id: str | None = Field(default=None, max_length=255, index=True)
    notice_event_id: str | None = Field(default=None, max_length=255, index=True)
    command_event_id: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closes_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status: str = Field(default="open", max_length=16)  # open | closed | cancelled
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_by: str | None = Field(default=None, max_length=255)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONText()))

    @property
    def short_id(self) -> str:
        return f"S{self.id}"


class PollBallot(SQLModel, table=True):
    """One voter's word: a native response, a number-emoji reaction, or a reaction's removal."""

    __tablename__ = "poll_ballot"
    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    voter: str = Field(max_length=255)
    # origin_server_ts, ms; indexed for the daily retention purge
    ts: int = Field(sa_column=Column(BigInteger(), nullable=False, index=True))
    event_id: str = Field(max_length=255, index=True)
    selections: list[str] = Field(sa_column=Column(JSONText(), nullable=False))
    source: str = Field(default="native", max_length=16)  # native | reaction | reaction_removed
    malformed: bool = False


class PollReason(SQLModel, table=True):
    """A reply to a decision's message: the reason of an objection, listed with the result
    when its author's vote at the close is an objection (other replies are never shown)."""

    __tablename__ = "poll_reason"
    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    voter: str = Field(max_length=255)
    # origin_server_ts, ms; indexed for the daily retention purge
    ts: int = Field(sa_column=Column(BigInteger(), nullable=False, index=True))
    event_id: str = Field(max_length=255, index=True)
    text: str


class NudgeOptOut(SQLModel, table=True):
    """A person who asked never to be mentioned by nudges (`!pas-de-relance`), in any room."""

    __tablename__ = "nudge_opt_out"
    user_id: str = Field(primary_key=True, max_length=255)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class AnonymousBallot(SQLModel, table=True):
    """A ballot of an anonymous poll, given by direct message. While the poll is open
    ``voter_key`` is an HMAC of the voter's ID under the poll's secret (so a new answer
    replaces the old one); at the close the secret and every key are deleted: only the
    selections stay, linked to no one."""

    __tablename__ = "anonymous_ballot"
    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    voter_key: str | None = Field(default=None, max_length=64, index=True)
    selections: list[str] = Field(sa_column=Column(JSONText(), nullable=False))
