"""poll tables

Revision ID: 0004_polls
Revises: 0001_runtime
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0004_polls"
down_revision = "0001_runtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("question", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("answers", storage.types.JSONText(), nullable=False),
        sa.Column("max_selections", sa.Integer(), nullable=False),
        sa.Column("start_event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("notice_event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("command_event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("closes_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("closed_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("result", storage.types.JSONText(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_room_id"), ["room_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_poll_start_event_id"), ["start_event_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_poll_notice_event_id"), ["notice_event_id"], unique=False
        )

    op.create_table(
        "poll_ballot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("voter", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("selections", storage.types.JSONText(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("malformed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("poll_ballot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_ballot_poll_id"), ["poll_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_poll_ballot_event_id"), ["event_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("poll_ballot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_ballot_event_id"))
        batch_op.drop_index(batch_op.f("ix_poll_ballot_poll_id"))

    op.drop_table("poll_ballot")
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_notice_event_id"))
        batch_op.drop_index(batch_op.f("ix_poll_start_event_id"))
        batch_op.drop_index(batch_op.f("ix_poll_room_id"))

    op.drop_table("poll")
