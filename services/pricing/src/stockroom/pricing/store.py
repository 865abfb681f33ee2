"""Pricing persistence: each public method is one transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.database import upsert_insert
from stockroom.pricing.tables import prices


class PriceStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def set_price(self, sku: str, currency_code: str, unit_amount_minor: int) -> None:
        async with self.engine.begin() as connection:
            insert = upsert_insert(connection, prices).values(
                sku=sku, currency_code=currency_code, unit_amount_minor=unit_amount_minor
            )
            await connection.execute(
                insert.on_conflict_do_update(
                    index_elements=[prices.c.sku, prices.c.currency_code],
                    set_={"unit_amount_minor": unit_amount_minor},
                )
            )

    async def unit_prices(self, skus: list[str], currency_code: str) -> dict[str, int]:
        """Unit price in minor units for each of ``skus`` that has one."""
        query = select(prices.c.sku, prices.c.unit_amount_minor).where(
            prices.c.sku.in_(sorted(set(skus))), prices.c.currency_code == currency_code
        )
        async with self.engine.connect() as connection:
            return {sku: int(amount) for sku, amount in await connection.execute(query)}
