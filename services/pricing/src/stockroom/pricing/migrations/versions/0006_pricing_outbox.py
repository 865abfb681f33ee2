"""Pricing's change events move onto the common outbox (stockroom.common.events).

The change log (``changes``) and the old publisher's cursor (``change_cursors``)
go; ``pricing_outbox`` replaces both (named for pricing: inventory's is
``outbox``, and the two services may share a database). Every change is an
event row, published by the common relay when PRICING_EVENTS_ENABLED (else
written as settled), read by every replica's cache, pruned after
PRICING_EVENTS_KEEP_PUBLISHED_S.
``change_head`` stays: its row lock orders the outbox positions by commit.
AUTOINCREMENT on SQLite: positions are never handed out twice.

Changes the old publisher had not yet sent when this runs are not carried
over (their JSON format and stream are gone; docs/events.md says how to
upgrade). Caches start from the head.

Revision ID: 0006_pricing_outbox
Revises: 0005_named_price_lists
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_pricing_outbox"
down_revision = "0005_named_price_lists"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pricing_outbox",
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
        sqlite_autoincrement=True,
    )
    op.create_index(
        "pricing_outbox_pending",
        "pricing_outbox",
        ["position"],
        postgresql_where=sa.text("publish_time IS NULL"),
        sqlite_where=sa.text("publish_time IS NULL"),
    )
    op.drop_table("change_cursors")
    op.drop_table("changes")


def downgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entity_key", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    cursors = op.create_table(
        "change_cursors",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(cursors, [{"name": "nats", "position": 0}])
    op.execute("UPDATE change_head SET position = 0")
    op.drop_index("pricing_outbox_pending", table_name="pricing_outbox")
    op.drop_table("pricing_outbox")
