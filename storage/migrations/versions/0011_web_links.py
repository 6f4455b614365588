"""web links: each room's capability tokens, and the web pages setting of encrypted rooms

Revision ID: 0011_web_links
Revises: 0010_decisions
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0011_web_links"
down_revision = "0010_decisions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("room_id", "kind", name="uq_web_link_room_kind"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("room_settings") as batch:
        batch.add_column(sa.Column("web_pages", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("room_settings") as batch:
        batch.drop_column("web_pages")
    op.drop_table("web_link")
