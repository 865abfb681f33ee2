"""CheckAvailability's read, coalesced: concurrent calls share one statement.

While one read is in flight, the SKUs of the calls that arrive meanwhile are
gathered; when it returns, one statement reads all of them and each call
decides on it. Every answer comes from a statement that started after the
call did, so no call sees older data than an uncoalesced read would have
shown it. Each call then gets only its own SKUs' rows (and their kits'
components'), so a call decides on what it asked about, whatever the size of
the batch it shared. The same statement reads the definitions of the kits among the SKUs,
the levels of their components, and which SKUs are deactivated. What the
levels promise is decided by the domain's rules (``rules.promisable``,
``rules.availability``), the ones ReserveStock allocates with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from stockroom.common.db import BatchSettings, GroupCommit
from stockroom.inventory.domain.kits import reachable
from stockroom.inventory.domain.model import StockKey, StockLevel
from stockroom.inventory.store import kits
from stockroom.inventory.store.kits import PromiseRead
from stockroom.inventory.store.transactions import Transactions

# A read's batch: the first at once; while it runs, the next gathers for up to 8 ms, but
# only when the server has calls that are not here yet (``calls_in_flight``), and once they
# all are, only until 2 ms pass without another (``quiet_s``, the default): measured on
# the 2-core benchmark machine, the count doubled a loaded process's CheckAvailability
# calls per second, and the quiet time gave 4-16 calls in flight 30-65 % more on average
# than waiting out the window (docs/performance.md, "Twelfth pass").
READ_BATCHES = BatchSettings(window_s=0.008, max_batch=512, max_in_flight=2)


class AvailabilityReads:
    def __init__(
        self,
        transactions: Transactions,
        settings: BatchSettings = READ_BATCHES,
        calls_in_flight: Callable[[], int] | None = None,
    ) -> None:
        """``calls_in_flight``: the calls the server is serving (None: a batch that can wait
        for company always does, up to its window)."""
        self._transactions = transactions
        self._batcher: GroupCommit[frozenset[str], PromiseRead] = GroupCommit(
            self._read, settings, calls_in_flight, name="inventory.availability"
        )

    async def of(self, skus: Iterable[str]) -> PromiseRead:
        """The levels of ``skus`` and of their kits' components (none for an unregistered
        SKU), the kits' definitions, and which of ``skus`` are deactivated."""
        return await self._batcher.submit(frozenset(skus))

    async def _read(self, calls: Sequence[frozenset[str]]) -> list[PromiseRead | BaseException]:
        wanted = frozenset().union(*calls)
        read = await self._transactions.read(lambda c: kits.levels_with_kits(c, wanted))
        return list(shares(read, calls))


def shares(read: PromiseRead, calls: Sequence[frozenset[str]]) -> list[PromiseRead]:
    """Each of ``calls``' own share of ``read`` (one read for all of them): a call's SKUs'
    rows and those of what their kits reach. A single call gets ``read`` as it is.
    BatchCheckAvailability cuts its one read into its requests' shares the same way."""
    if len(calls) == 1:
        return [read]
    by_sku: dict[str, list[tuple[StockKey, StockLevel]]] = {}
    for key, level in read.levels.items():
        by_sku.setdefault(key.sku, []).append((key, level))
    return [_narrowed(read, by_sku, skus) for skus in calls]


def _narrowed(
    read: PromiseRead, by_sku: dict[str, list[tuple[StockKey, StockLevel]]], skus: frozenset[str]
) -> PromiseRead:
    """``read`` cut down to ``skus`` and what their kits reach: a call's own share of a
    coalesced read (deciding on every call's rows would cost each call the whole batch)."""
    reach = reachable(skus, read.definitions)
    return PromiseRead(
        {key: level for sku in reach for key, level in by_sku.get(sku, ())},
        {sku: read.definitions[sku] for sku in reach if sku in read.definitions},
        read.inactive & skus,
    )
