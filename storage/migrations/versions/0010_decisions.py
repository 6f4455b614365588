"""decisions: a poll's kind and options, the reasons given for objections, anonymous ballots,
and nudges (room settings and personal opt-outs)

Revision ID: 0010_decisions
Revises: 0009_recurring_events
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0010_decisions"
down_revision = "0009_recurring_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poll", schema=None) as batch_op:
        # existing polls are all choose-N polls
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="choice",
            )
        )
        batch_op.add_column(sa.Column("settings", storage.types.JSONText(), nullable=True))
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.alter_column("kind", server_default=None)

    op.create_table(
        "poll_reason",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("voter", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("poll_reason", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_reason_poll_id"), ["poll_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_poll_reason_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_poll_reason_ts"), ["ts"], unique=False)

    op.create_table(
        "anonymous_ballot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("voter_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("selections", storage.types.JSONText(), nullable=False),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("anonymous_ballot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_anonymous_ballot_poll_id"), ["poll_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_anonymous_ballot_voter_key"), ["voter_key"], unique=False
        )

    with op.batch_alter_table("room_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nudges", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("nudge_max_members", sa.Integer(), nullable=True))
    op.create_table(
        "nudge_opt_out",
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("nudge_opt_out")
    with op.batch_alter_table("anonymous_ballot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anonymous_ballot_voter_key"))
        batch_op.drop_index(batch_op.f("ix_anonymous_ballot_poll_id"))
    op.drop_table("anonymous_ballot")
    with op.batch_alter_table("room_settings", schema=None) as batch_op:
        batch_op.drop_column("nudge_max_members")
        batch_op.drop_column("nudges")
    with op.batch_alter_table("poll_reason", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_reason_ts"))
        batch_op.drop_index(batch_op.f("ix_poll_reason_event_id"))
        batch_op.drop_index(batch_op.f("ix_poll_reason_poll_id"))
    op.drop_table("poll_reason")
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.drop_column("settings")
        batch_op.drop_column("kind")
