"""waiting commands: a person's commands over the pace wait here for their turn

Revision ID: 0008_waiting_commands
Revises: 0005_digests, 0006_privacy, 0007_retention_indexes
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0008_waiting_commands"
down_revision = ("0005_digests", "0006_privacy", "0007_retention_indexes")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waiting_command",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("room_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("event", storage.types.JSONText(), nullable=False),
        sa.Column("due_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_waiting_command_due", "waiting_command", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_waiting_command_due", table_name="waiting_command")
    op.drop_table("waiting_command")
