"""The inventory schema (SQLAlchemy Core). Alembic migrations create it; this is
what the store's queries are written against."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("location_id", String(64), primary_key=True),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
)

movements = Table(
    "movements",
    metadata,
    # SQLite only auto-increments an INTEGER PRIMARY KEY, so the id is BIGINT elsewhere.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("location_id", String(64), nullable=False),
    Column("on_hand_delta", BigInteger, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("reference", String(256), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
