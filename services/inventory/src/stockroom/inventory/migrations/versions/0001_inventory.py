"""Catalog, stock levels, the ledger, reservations and request records.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stockroom.common.db import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID, UUID, TEXT = 64, 36, 256


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("sku", sa.String(ID), primary_key=True),
        sa.Column("display_name", sa.String(TEXT), nullable=False),
        sa.Column("create_time", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "locations",
        sa.Column("location_id", sa.String(ID), primary_key=True),
        sa.Column("display_name", sa.String(TEXT), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("create_time", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "stock_levels",
        sa.Column("sku", sa.String(ID), sa.ForeignKey("items.sku"), primary_key=True),
        sa.Column(
            "location_id",
            sa.String(ID),
            sa.ForeignKey("locations.location_id"),
            primary_key=True,
        ),
        sa.Column("on_hand", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("safety_stock", sa.BigInteger, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
        sa.CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
    )
    ledger_head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="single_row"),
    )
    op.bulk_insert(ledger_head, [{"id": 1, "last_sequence": 0}])
    op.create_table(
        "movements",
        sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("sku", sa.String(ID), nullable=False),
        sa.Column("location_id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("on_hand_delta", sa.BigInteger, nullable=False),
        sa.Column("reserved_delta", sa.BigInteger, nullable=False),
        sa.Column("on_hand", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("safety_stock", sa.BigInteger, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(TEXT), nullable=False),
        sa.Column("reference", sa.String(TEXT), nullable=False),
        sa.Column("reservation_id", sa.String(UUID), nullable=True),
        sa.Column("request_id", sa.String(UUID), nullable=True),
        sa.Column("create_time", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"]
        ),
    )
    op.create_index("movements_by_sku", "movements", ["sku", "sequence"])
    op.create_index("movements_by_location", "movements", ["location_id", "sequence"])
    op.create_table(
        "reservations",
        sa.Column("reservation_id", sa.String(UUID), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(TEXT), nullable=False),
        sa.Column("create_time", UtcDateTime(), nullable=False),
        sa.Column("expire_time", UtcDateTime(), nullable=False),
        sa.Column("update_time", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "active_reservations_by_expiry",
        "reservations",
        ["expire_time"],
        postgresql_where=sa.text("state = 'ACTIVE'"),
        sqlite_where=sa.text("state = 'ACTIVE'"),
    )
    op.create_table(
        "reservation_allocations",
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
        sa.ForeignKeyConstraint(
            ["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"]
        ),
        sa.CheckConstraint("quantity > 0", name="allocation_positive"),
    )
    op.create_table(
        "request_records",
        sa.Column("request_id", sa.String(UUID), primary_key=True),
        sa.Column("method", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "request_records",
        "reservation_allocations",
        "reservations",
        "movements",
        "ledger_head",
        "stock_levels",
        "locations",
        "items",
    ):
        op.drop_table(table)
