"""digest tables

Revision ID: 0005_digests
Revises: 0001_runtime
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0005_digests"
down_revision = "0001_runtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("week", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("period_start", storage.types.UTCDateTime(), nullable=False),
        sa.Column("period_end", storage.types.UTCDateTime(), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("published_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_id", "week", name="uq_digest_run_room_week"),
    )
    with op.batch_alter_table("digest_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_run_week"), ["week"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("digest_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_run_week"))

    op.drop_table("digest_run")
