"""proposals, their tags and the reactions that count on them

Revision ID: 0003_proposals
Revises: 0001_runtime
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0003_proposals"
down_revision = "0001_runtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("thread_root", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("edited_at", storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.create_index("ix_proposal_room_created", ["room_id", "created_at"], unique=False)

    op.create_table(
        "proposal_tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("folded", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("display", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposal.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("proposal_tag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_tag_folded"), ["folded"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_proposal_tag_proposal_id"), ["proposal_id"], unique=False
        )

    op.create_table(
        "proposal_reaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column(
            "reaction_event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False
        ),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposal.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reaction_event_id"),
    )
    with op.batch_alter_table("proposal_reaction", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_proposal_reaction_proposal_id"), ["proposal_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("proposal_reaction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_reaction_proposal_id"))
    op.drop_table("proposal_reaction")
    with op.batch_alter_table("proposal_tag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_tag_proposal_id"))
        batch_op.drop_index(batch_op.f("ix_proposal_tag_folded"))
    op.drop_table("proposal_tag")
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_index("ix_proposal_room_created")
    op.drop_table("proposal")
