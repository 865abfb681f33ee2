"""The pricing schema (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, String, Table

metadata = MetaData()

prices = Table(
    "prices",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("currency_code", String(3), primary_key=True),
    # Integer minor units of the currency (cents for USD, yen for JPY): no floats.
    Column("unit_amount_minor", BigInteger, nullable=False),
)
