"""CheckAvailability's read, coalesced: concurrent calls share one statement.

While one read is in flight, the SKUs of the calls that arrive meanwhile are
gathered; when it returns, one statement reads all of them and each call
takes its SKUs' levels (and which of them are deactivated). Every answer
comes from a statement that started after the call did, so no call sees
older data than an uncoalesced read would have shown it. What the levels
promise is decided by the domain's rules (``rules.promisable``,
``rules.availability``), the same ReserveStock allocates with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stockroom.inventory.domain.model import StockLevel
from stockroom.inventory.service.batcher import BatchSettings, GroupCommit
from stockroom.inventory.store import batch_reads
from stockroom.inventory.store.transactions import Transactions

# A read's batch: as many calls as wait, at once, one statement at a time per process.
READ_BATCHES = BatchSettings(window_s=0.0, max_batch=512, max_in_flight=2)


@dataclass(frozen=True)
class SkuLevels:
    """Every level of some SKUs, and which of them are deactivated."""

    levels: tuple[StockLevel, ...]
    inactive: frozenset[str]


class AvailabilityReads:
    def __init__(self, transactions: Transactions, settings: BatchSettings = READ_BATCHES) -> None:
        self._transactions = transactions
        self._batcher: GroupCommit[frozenset[str], SkuLevels] = GroupCommit(self._read, settings)

    async def of(self, skus: Iterable[str]) -> SkuLevels:
        """The levels of ``skus`` (none for an unregistered SKU) and the deactivated ones."""
        return await self._batcher.submit(frozenset(skus))

    async def _read(self, calls: Sequence[frozenset[str]]) -> list[SkuLevels | BaseException]:
        wanted = frozenset().union(*calls)
        levels, _, inactive = await self._transactions.read(
            lambda c: batch_reads.levels_and_records(c, wanted, (), wanted)
        )
        return [
            SkuLevels(
                tuple(lv for lv in levels.values() if lv.sku in call),
                frozenset(sku for sku in inactive if sku in call),
            )
            for call in calls
        ]
