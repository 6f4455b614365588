"""privacy: direct rooms, pending forget requests, erased proposals

Revision ID: 0006_privacy
Revises: 0001_runtime
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0006_privacy"
down_revision = "0001_runtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_direct_room",
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("room_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "privacy_forget_request",
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("room_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("requested_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    with op.batch_alter_table("privacy_forget_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_forget_request_requested_at"), ["requested_at"], unique=False
        )
    op.create_table(
        "privacy_erased_proposal",
        sa.Column("proposal_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("erased_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("proposal_id"),
    )


def downgrade() -> None:
    op.drop_table("privacy_erased_proposal")
    with op.batch_alter_table("privacy_forget_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_forget_request_requested_at"))
    op.drop_table("privacy_forget_request")
    op.drop_table("privacy_direct_room")
