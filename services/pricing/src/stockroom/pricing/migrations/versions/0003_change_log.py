"""The change log of prices and promotions (cache refresh, change events).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    head = op.create_table(
        "change_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="change_head_one_row"),
    )
    op.bulk_insert(head, [{"id": 1, "position": 0}])
    op.create_table(
        "changes",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entity_key", sa.String(64), nullable=False),
        sa.Column("recorded_at", Time, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    cursors = op.create_table(
        "change_cursors",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(cursors, [{"name": "nats", "position": 0}])


def downgrade() -> None:
    op.drop_table("change_cursors")
    op.drop_table("changes")
    op.drop_table("change_head")
