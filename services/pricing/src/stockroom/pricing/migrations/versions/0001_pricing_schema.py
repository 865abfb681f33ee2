"""Price lists, price versions, promotions and quotes.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY, so ids are BIGINT elsewhere.
Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "price_lists",
        sa.Column("id", Id, sa.Identity(), primary_key=True),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False, server_default=""),
        sa.Column("customer_group", sa.String(64), nullable=False, server_default=""),
        sa.UniqueConstraint("currency_code", "channel", "customer_group", name="price_lists_scope"),
    )
    op.create_table(
        "prices",
        sa.Column("id", Id, sa.Identity(), primary_key=True),
        sa.Column("price_list_id", Id, sa.ForeignKey("price_lists.id"), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("tiers_mode", sa.String(16), nullable=True),
        sa.Column("tiers", sa.JSON, nullable=False),
        sa.Column("valid_from", Time, nullable=False),
        sa.Column("valid_until", Time, nullable=True),
        sa.Column("recorded_at", Time, nullable=False),
        sa.Column("request_id", sa.String(36), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until > valid_from", name="prices_window_not_empty"
        ),
    )
    op.create_index("prices_by_list_sku_from", "prices", ["price_list_id", "sku", "valid_from"])
    op.create_table(
        "promotions",
        sa.Column("id", Id, sa.Identity(), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False, server_default=""),
        sa.Column("target", sa.String(8), nullable=False),
        sa.Column("basis_points_off", sa.Integer, nullable=True),
        sa.Column("amount_off_minor", sa.BigInteger, nullable=True),
        sa.Column("minimum_quantity", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("minimum_subtotal_minor", sa.BigInteger, nullable=True),
        sa.Column("valid_from", Time, nullable=False),
        sa.Column("valid_until", Time, nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("request_id", sa.String(36), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.CheckConstraint(
            "(basis_points_off IS NULL) <> (amount_off_minor IS NULL)",
            name="promotions_one_discount",
        ),
        sa.CheckConstraint(
            "basis_points_off IS NULL OR basis_points_off BETWEEN 1 AND 10000",
            name="promotions_basis_points_range",
        ),
        sa.CheckConstraint(
            "amount_off_minor IS NULL OR amount_off_minor > 0", name="promotions_amount_positive"
        ),
        sa.CheckConstraint("target IN ('SKUS', 'CART')", name="promotions_target"),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until > valid_from", name="promotions_window_not_empty"
        ),
    )
    op.create_index("promotions_by_window", "promotions", ["valid_from", "valid_until"])
    op.create_table(
        "promotion_skus",
        sa.Column("promotion_id", Id, sa.ForeignKey("promotions.id"), primary_key=True),
        sa.Column("sku", sa.String(64), primary_key=True),
    )
    op.create_index("promotion_skus_by_sku", "promotion_skus", ["sku"])
    op.create_table(
        "quotes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("request_id", sa.String(36), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("customer_group", sa.String(64), nullable=False),
        sa.Column("price_time", Time, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expire_at", Time, nullable=False),
        sa.Column("subtotal_minor", sa.BigInteger, nullable=False),
        sa.Column("discount_minor", sa.BigInteger, nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False),
        sa.Column("availability_reason", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.CheckConstraint("discount_minor >= 0 AND total_minor >= 0", name="quotes_not_negative"),
        sa.CheckConstraint(
            "total_minor = subtotal_minor - discount_minor",
            name="quotes_total_is_subtotal_less_discount",
        ),
    )


def downgrade() -> None:
    op.drop_table("quotes")
    op.drop_index("promotion_skus_by_sku", table_name="promotion_skus")
    op.drop_table("promotion_skus")
    op.drop_index("promotions_by_window", table_name="promotions")
    op.drop_table("promotions")
    op.drop_index("prices_by_list_sku_from", table_name="prices")
    op.drop_table("prices")
    op.drop_table("price_lists")
