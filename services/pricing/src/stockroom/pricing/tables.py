"""The pricing schema (SQLAlchemy Core). Alembic migrations create it; this is
what the store's queries are written against.

Amounts are BIGINT minor units, never floats. Rows are only ever inserted:
price history, promotions and quotes are kept as they were recorded.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from stockroom.common.db import UtcDateTime

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY, so ids are BIGINT elsewhere.
Id = BigInteger().with_variant(Integer, "sqlite")


price_lists = Table(
    "price_lists",
    metadata,
    Column("id", Id, Identity(), primary_key=True),
    Column("currency_code", String(3), nullable=False),
    # '' means "every channel" / "every customer group".
    Column("channel", String(64), nullable=False, server_default=""),
    Column("customer_group", String(64), nullable=False, server_default=""),
    UniqueConstraint("currency_code", "channel", "customer_group", name="price_lists_scope"),
)

prices = Table(
    "prices",
    metadata,
    # Ascending in recording order: the tie-breaker between versions with one valid_from.
    Column("id", Id, Identity(), primary_key=True),
    Column("price_list_id", Id, ForeignKey("price_lists.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    # NULL for a per-unit price, else VOLUME or GRADUATED.
    Column("tiers_mode", String(16), nullable=True),
    # [{"up_to": int | null, "unit_amount_minor": int, "flat_amount_minor": int}, ...]
    Column("tiers", JSON, nullable=False),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_until", UtcDateTime, nullable=True),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("request_id", String(36), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    CheckConstraint(
        "valid_until IS NULL OR valid_until > valid_from", name="prices_window_not_empty"
    ),
    Index("prices_by_list_sku_from", "price_list_id", "sku", "valid_from"),
)

promotions = Table(
    "promotions",
    metadata,
    Column("id", Id, Identity(), primary_key=True),
    Column("display_name", String(200), nullable=False),
    # '' means "every currency" (percentage promotions without a minimum subtotal).
    Column("currency_code", String(3), nullable=False, server_default=""),
    Column("target", String(8), nullable=False),
    Column("basis_points_off", Integer, nullable=True),
    Column("amount_off_minor", BigInteger, nullable=True),
    Column("minimum_quantity", BigInteger, nullable=False, server_default="0"),
    Column("minimum_subtotal_minor", BigInteger, nullable=True),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_until", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("request_id", String(36), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    CheckConstraint(
        "(basis_points_off IS NULL) <> (amount_off_minor IS NULL)", name="promotions_one_discount"
    ),
    CheckConstraint(
        "basis_points_off IS NULL OR basis_points_off BETWEEN 1 AND 10000",
        name="promotions_basis_points_range",
    ),
    CheckConstraint(
        "amount_off_minor IS NULL OR amount_off_minor > 0", name="promotions_amount_positive"
    ),
    CheckConstraint("target IN ('SKUS', 'CART')", name="promotions_target"),
    CheckConstraint(
        "valid_until IS NULL OR valid_until > valid_from", name="promotions_window_not_empty"
    ),
    Index("promotions_by_window", "valid_from", "valid_until"),
)

promotion_skus = Table(
    "promotion_skus",
    metadata,
    Column("promotion_id", Id, ForeignKey("promotions.id"), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Index("promotion_skus_by_sku", "sku"),
)

quotes = Table(
    "quotes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    Column("currency_code", String(3), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("customer_group", String(64), nullable=False),
    Column("price_time", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expire_at", UtcDateTime, nullable=False),
    Column("subtotal_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    # Empty when inventory answered; else why availability is UNKNOWN.
    Column("availability_reason", String(64), nullable=False),
    # The priced lines, discounts and stock answer as the quote gave them: an
    # immutable snapshot, read back whole by GetQuote.
    Column("document", JSON, nullable=False),
    CheckConstraint("discount_minor >= 0 AND total_minor >= 0", name="quotes_not_negative"),
    CheckConstraint(
        "total_minor = subtotal_minor - discount_minor",
        name="quotes_total_is_subtotal_less_discount",
    ),
)
