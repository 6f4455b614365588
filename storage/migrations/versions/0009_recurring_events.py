"""recurring events: the rule on the agenda item, exceptions, per-occurrence messages and RSVPs

Revision ID: 0009_recurring_events
Revises: 0008_waiting_commands
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0009_recurring_events"
down_revision = "0008_waiting_commands"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agenda_item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recurrence", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(sa.Column("last_at", storage.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table("event_rsvp", schema=None) as batch_op:
        batch_op.add_column(sa.Column("occurs_at", storage.types.UTCDateTime(), nullable=True))
    op.create_table(
        "occurrence_exception",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("occurs_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("moved_to", storage.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["agenda_item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "occurs_at", name="uq_occurrence_exception"),
    )
    op.create_index(
        "ix_occurrence_exception_item_id", "occurrence_exception", ["item_id"], unique=False
    )
    op.create_table(
        "occurrence_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("occurs_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["agenda_item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbox_key"),
    )
    op.create_index(
        "ix_occurrence_message_event_id", "occurrence_message", ["event_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_occurrence_message_event_id", table_name="occurrence_message")
    op.drop_table("occurrence_message")
    op.drop_index("ix_occurrence_exception_item_id", table_name="occurrence_exception")
    op.drop_table("occurrence_exception")
    with op.batch_alter_table("event_rsvp", schema=None) as batch_op:
        batch_op.drop_column("occurs_at")
    with op.batch_alter_table("agenda_item", schema=None) as batch_op:
        batch_op.drop_column("last_at")
        batch_op.drop_column("recurrence")
