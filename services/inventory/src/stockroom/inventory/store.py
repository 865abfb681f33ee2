"""Inventory persistence: each public method is one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.database import upsert_insert
from stockroom.inventory.domain import Line, LineAvailability
from stockroom.inventory.tables import movements, stock_levels


class InventoryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def receive(self, sku: str, location_id: str, quantity: int, reference: str) -> int:
        """Add received units to a location; returns the new on-hand count."""
        async with self.engine.begin() as connection:
            insert = upsert_insert(connection, stock_levels).values(
                sku=sku, location_id=location_id, on_hand=quantity, reserved=0
            )
            upsert = insert.on_conflict_do_update(
                index_elements=[stock_levels.c.sku, stock_levels.c.location_id],
                set_={"on_hand": stock_levels.c.on_hand + quantity},
            ).returning(stock_levels.c.on_hand)
            on_hand = (await connection.execute(upsert)).scalar_one()
            await connection.execute(
                movements.insert().values(
                    sku=sku,
                    location_id=location_id,
                    on_hand_delta=quantity,
                    reason="RECEIPT",
                    reference=reference,
                    created_at=datetime.now(UTC),
                )
            )
            return int(on_hand)

    async def availability(self, lines: list[Line]) -> list[LineAvailability]:
        """Available units over all locations for each line, in line order."""
        skus = sorted({line.sku for line in lines})
        query = (
            select(stock_levels.c.sku, func.sum(stock_levels.c.on_hand - stock_levels.c.reserved))
            .where(stock_levels.c.sku.in_(skus))
            .group_by(stock_levels.c.sku)
        )
        async with self.engine.connect() as connection:
            available = {sku: int(total) for sku, total in await connection.execute(query)}
        return [
            LineAvailability(line.sku, line.quantity, available.get(line.sku, 0)) for line in lines
        ]
