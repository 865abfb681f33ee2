"""CheckAvailability's read, coalesced: concurrent calls share one statement.

While one read is in flight, the SKUs of the calls that arrive meanwhile are
gathered; when it returns, one statement reads all of them and each call
takes its SKUs' totals. Every answer comes from a statement that started
after the call did, so no call sees older data than an uncoalesced read
would have shown it. The same statement reads the definitions of the kits
among them and the totals of their components: a kit's availability is the
number of whole kits those make (``domain.kits``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stockroom.inventory.domain import kits as kit_rules
from stockroom.inventory.service.batcher import BatchSettings, GroupCommit
from stockroom.inventory.store import kits
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
        """Units (kits: whole kits) that can be promised per SKU (SKUs with none are
        absent)."""
        return await self._batcher.submit(frozenset(skus))

    async def _read(self, calls: Sequence[frozenset[str]]) -> list[dict[str, int] | BaseException]:
        wanted = frozenset().union(*calls)
        totals, definitions = await self._transactions.read(
            lambda c: kits.available_with_kits(c, wanted)
        )
        for sku in wanted & definitions.keys():
            totals[sku] = kit_rules.kits_possible(kit_rules.flatten(sku, definitions), totals)
        return [{sku: totals[sku] for sku in call if totals.get(sku)} for call in calls]
