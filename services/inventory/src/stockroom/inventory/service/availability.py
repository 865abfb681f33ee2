"""CheckAvailability's read, coalesced: concurrent calls share one statement.

While one read is in flight, the SKUs of the calls that arrive meanwhile are
gathered; when it returns, one statement reads all of them and each call
takes its SKUs' totals. Every answer comes from a statement that started
after the call did, so no call sees older data than an uncoalesced read
would have shown it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stockroom.inventory.service.batcher import BatchSettings, GroupCommit
from stockroom.inventory.store import levels
from stockroom.inventory.store.transactions import Transactions

# A read's batch: as many calls as wait, at once, one statement at a time per process.
READ_BATCHES = BatchSettings(window_s=0.0, max_batch=512, max_in_flight=2)


class AvailabilityReads:
    def __init__(self, transactions: Transactions, settings: BatchSettings = READ_BATCHES) -> None:
        self._transactions = transactions
        self._batcher: GroupCommit[frozenset[str], dict[str, int]] = GroupCommit(
            self._read, settings
        )

    async def of(self, skus: Iterable[str]) -> dict[str, int]:
        """Units that can be promised per SKU (SKUs with none are absent)."""
        return await self._batcher.submit(frozenset(skus))

    async def _read(self, calls: Sequence[frozenset[str]]) -> list[dict[str, int] | BaseException]:
        wanted = frozenset().union(*calls)
        totals = await self._transactions.read(lambda c: levels.available_by_sku(c, wanted))
        return [{sku: totals[sku] for sku in call if sku in totals} for call in calls]
