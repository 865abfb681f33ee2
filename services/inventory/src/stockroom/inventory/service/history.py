"""Reading the ledger: pages for ListMovements, tails for WatchStock (final entries only)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.inventory.domain.model import Movement, Page
from stockroom.inventory.store import ledger
from stockroom.inventory.store.transactions import Transactions


class LedgerHistory:
    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def page(self, *, sku: str, location_id: str, after: int, size: int) -> Page[Movement]:
        """Up to ``size`` entries after position ``after``, optionally of one SKU or location."""

        async def work(connection: AsyncConnection) -> list[Movement]:
            return await ledger.read(
                connection,
                after=after,
                limit=size + 1,
                skus=[sku] if sku else [],
                location_id=location_id,
            )

        rows = await self._transactions.read(work)
        entries = tuple(rows[:size])
        return Page(entries, (entries[-1].sequence,) if len(rows) > size else None)

    async def movements_after(
        self, after: int, limit: int, skus: Sequence[str] = ()
    ) -> list[Movement]:
        async def work(connection: AsyncConnection) -> list[Movement]:
            return await ledger.read(connection, after=after, limit=limit, skus=skus)

        return await self._transactions.read(work)

    async def last_sequence(self) -> int:
        """A position every final entry is at or below, and every later one above."""
        return await self._transactions.read(ledger.final_position)
