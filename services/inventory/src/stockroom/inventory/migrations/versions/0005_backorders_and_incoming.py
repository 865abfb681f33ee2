"""Backorders, preorders and expected receipts: inventory policies, the backorders
reservation lines wait on, expected receipts, and a level's ``backordered`` and
``incoming`` units (with their ledger deltas).

Existing levels and ledger entries get zeros: nothing was backordered or
incoming before. Columns are added with plain ``ALTER TABLE ... ADD COLUMN``
(a column CHECK included), which PostgreSQL and SQLite both accept without
rebuilding a table.

Revision ID: 0005_backorders_and_incoming
Revises: 0004_kits_states_reorder
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stockroom.common.db import UtcDateTime

revision = "0005_backorders_and_incoming"
down_revision = "0004_kits_states_reorder"
branch_labels = None
depends_on = None

ID, UUID, TEXT = 64, 36, 256

_LEVEL_COLUMNS = (
    ("backordered", "backordered_not_negative"),
    ("incoming", "incoming_not_negative"),
)
_MOVEMENT_COLUMNS = ("backordered_delta", "incoming_delta", "backordered", "incoming")


def upgrade() -> None:
    for column, check in _LEVEL_COLUMNS:
        op.execute(
            f"ALTER TABLE stock_levels ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0"
            f" CONSTRAINT {check} CHECK ({column} >= 0)"
        )
    for column in _MOVEMENT_COLUMNS:
        op.add_column(
            "movements", sa.Column(column, sa.BigInteger, nullable=False, server_default="0")
        )
    op.add_column("movements", sa.Column("expected_receipt_id", sa.String(ID), nullable=True))
    op.create_table(
        "inventory_policies",
        sa.Column("sku", sa.String(ID), sa.ForeignKey("items.sku"), primary_key=True),
        sa.Column("location_id", sa.String(ID), primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("backorder_limit", sa.BigInteger, nullable=True),
        sa.Column("preorder_until", UtcDateTime(), nullable=True),
        sa.Column("backordered", sa.BigInteger, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("update_time", UtcDateTime(), nullable=False),
        sa.CheckConstraint("mode IN ('REFUSE', 'BACKORDER', 'PREORDER')", name="policy_mode_known"),
        sa.CheckConstraint(
            "mode <> 'BACKORDER' OR backorder_limit IS NOT NULL", name="backorder_has_limit"
        ),
        sa.CheckConstraint(
            "mode <> 'PREORDER' OR preorder_until IS NOT NULL", name="preorder_has_date"
        ),
        sa.CheckConstraint(
            "backordered >= 0 AND (backorder_limit IS NULL OR backordered <= backorder_limit)",
            name="backordered_within_limit",
        ),
    )
    op.create_table(
        "reservation_backorders",
        sa.Column(
            "reservation_id",
            sa.String(UUID),
            sa.ForeignKey("reservations.reservation_id"),
            primary_key=True,
        ),
        sa.Column("sku", sa.String(ID), primary_key=True),
        sa.Column("location_id", sa.String(ID), primary_key=True),
        sa.Column("line_number", sa.Integer, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("filled", sa.BigInteger, nullable=False),
        sa.Column("cancelled", sa.BigInteger, nullable=False),
        sa.Column("preorder", sa.Boolean, nullable=False),
        sa.Column("policy_location", sa.String(ID), nullable=False),
        sa.Column("queue_position", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"]
        ),
        sa.CheckConstraint(
            "quantity > 0 AND filled >= 0 AND cancelled >= 0 AND filled + cancelled <= quantity",
            name="backorder_within_quantity",
        ),
    )
    op.create_index(
        "backorders_waiting",
        "reservation_backorders",
        ["sku", "location_id", "queue_position"],
        postgresql_where=sa.text("filled + cancelled < quantity"),
        sqlite_where=sa.text("filled + cancelled < quantity"),
    )
    op.create_table(
        "expected_receipts",
        sa.Column("expected_receipt_id", sa.String(ID), primary_key=True),
        sa.Column("sku", sa.String(ID), nullable=False),
        sa.Column("location_id", sa.String(ID), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("expected_time", UtcDateTime(), nullable=False),
        sa.Column("reference", sa.String(TEXT), nullable=False),
        sa.Column("create_time", UtcDateTime(), nullable=False),
        sa.Column("update_time", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"]
        ),
        sa.CheckConstraint("quantity > 0 AND received >= 0", name="expected_quantities"),
        sa.CheckConstraint(
            "state IN ('OPEN', 'RECEIVED', 'CANCELLED')", name="expected_receipt_state_known"
        ),
    )
    op.create_index(
        "expected_receipts_by_time", "expected_receipts", ["expected_time", "expected_receipt_id"]
    )
    op.create_index(
        "open_expected_receipts",
        "expected_receipts",
        ["sku", "expected_time"],
        postgresql_where=sa.text("state = 'OPEN'"),
        sqlite_where=sa.text("state = 'OPEN'"),
    )


def downgrade() -> None:
    op.drop_index("open_expected_receipts", table_name="expected_receipts")
    op.drop_index("expected_receipts_by_time", table_name="expected_receipts")
    op.drop_table("expected_receipts")
    op.drop_index("backorders_waiting", table_name="reservation_backorders")
    op.drop_table("reservation_backorders")
    op.drop_table("inventory_policies")
    # Plain DROP COLUMN (PostgreSQL; SQLite 3.35+), which takes the column's CHECK with it.
    for column in (*_MOVEMENT_COLUMNS, "expected_receipt_id"):
        op.execute(f"ALTER TABLE movements DROP COLUMN {column}")
    for column, _ in _LEVEL_COLUMNS:
        op.execute(f"ALTER TABLE stock_levels DROP COLUMN {column}")
