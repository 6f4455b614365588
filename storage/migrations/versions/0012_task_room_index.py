"""task room index: a room's scheduled tasks found without reading every room's

At start the digest checks each joined room's digest task. Without an index on the room, each
check read the whole scheduled_task table, which holds every reminder ever sent: a year of
3 weekly series in each of 1,000 rooms is 470,000 rows, read twice per room.

Revision ID: 0012_task_room_index
Revises: 0011_web_links
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0012_task_room_index"
down_revision = "0011_web_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_task_room_kind_status", "scheduled_task", ["room_id", "kind", "status"])


def downgrade() -> None:
    op.drop_index("ix_task_room_kind_status", table_name="scheduled_task")
