"""The outbox of events waiting for the relay (stockroom.common.events).

Rows are written only while publishing is on (INVENTORY_EVENTS_ENABLED); the
relay marks them published and the sweeper deletes them a day later.

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


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("about", sa.String(255), nullable=False),
        sa.Column("dedupe_id", sa.String(128), nullable=True),
        sa.Column("data_type", sa.String(255), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("publish_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "outbox_pending",
        "outbox",
        ["position"],
        postgresql_where=sa.text("publish_time IS NULL"),
        sqlite_where=sa.text("publish_time IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("outbox_pending", table_name="outbox")
    op.drop_table("outbox")
