"""The per-process cache of price versions, price lists and promotions, with a bound on
staleness.

**The guarantee.** No quote uses a price, price list or promotion superseded more
than ``staleness_ns`` before the quote started. A quote first asks
``ensure_fresh``: unless the cache was *confirmed* within the bound, it reads the
outbox (``store.changes``: every change is an event there) after the last
position it applied, drops what changed and notes as confirmation time the
moment it *started* that read. The read sees every change committed before that
moment, so after it the cache reflects all changes committed before
``now - staleness``. What is missing is loaded from the database, which is
fresher still.

**Pruning.** Outbox rows are pruned ``log_retention_ms`` after they were written
(or published). A cache that has not read the outbox for half that long starts
over from the head instead of reading on, so it never misses a pruned change.

**Keeping it fresh cheaply.** Every replica also listens for the changes'
NOTIFY (PostgreSQL) and polls the outbox in the background (``refresher.py``),
so quotes rarely wait for a refresh; the bound holds even when notifications are
lost.

**What is cached.** Per (SKU, currency): every version of every list (history is
small and immutable; ``domain.price_choice`` chooses). Per currency: every price
list. Promotions: every one not paused or ended whose window is open at or after
a horizon a day before it was loaded; quotes for a moment before the horizon
read the database. Usage counts (redemptions) are not cached: the quoter reads
them for limited promotions.

A load that raced with a refresh (the generation moved while it ran) is used for
the quote that made it but not kept, so nothing stale outlives a refresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from stockroom.pricing.domain.codes import DiscountCode
from stockroom.pricing.domain.price_lists import PriceList
from stockroom.pricing.domain.prices import PriceVersion
from stockroom.pricing.domain.promotions import Promotion, Usage, for_cart
from stockroom.pricing.events import PRICE_LIST_CHANGED, PRICE_RECORDED, PROMOTION_CHANGED
from stockroom.pricing.store.changes import Change, ChangeLog
from stockroom.pricing.store.price_lists import PriceListStore
from stockroom.pricing.store.prices import PriceStore
from stockroom.pricing.store.promotions import PromotionStore

NANOS_PER_MS = 1_000_000
REFRESH_BATCH = 1000
MAX_REFRESH_BATCHES = 10  # further behind than 10 000 changes: start over from the head
MAX_CACHED_SKUS = 100_000
PROMOTION_HORIZON = timedelta(days=1)
DEFAULT_LOG_RETENTION_MS = 86_400_000  # PRICING_EVENTS_KEEP_PUBLISHED_S's default

Clock = Callable[[], datetime]
MonotonicNs = Callable[[], int]


class CatalogCache:
    def __init__(
        self,
        prices: PriceStore,
        price_lists: PriceListStore,
        promotions: PromotionStore,
        log: ChangeLog,
        *,
        staleness_ms: int,
        clock: Clock,
        monotonic_ns: MonotonicNs = time.monotonic_ns,
        log_retention_ms: int = DEFAULT_LOG_RETENTION_MS,
    ) -> None:
        self._prices = prices
        self._price_lists = price_lists
        self._promotions_store = promotions
        self._log = log
        self.staleness_ns = staleness_ms * NANOS_PER_MS
        # Read on from the last position only while no pruned row can be one not applied.
        self._read_on_ns = log_retention_ms * NANOS_PER_MS // 2
        self._clock = clock
        self._monotonic_ns = monotonic_ns
        # SKU -> currency -> every version in that currency's lists.
        self._versions: dict[str, dict[str, list[PriceVersion]]] = {}
        self._lists: dict[str, dict[str, PriceList]] = {}
        self._promotions: list[Promotion] | None = None
        self._horizon: datetime | None = None
        self._position = -1  # nothing applied yet: the first refresh starts at the head
        self._confirmed_ns: int | None = None
        self._written_ns = 0
        self._generation = 0
        self._lock = asyncio.Lock()
        self.refreshes = 0  # for tests and metrics: how often the change log was read

    @property
    def position(self) -> int:
        """The last outbox position this cache has applied."""
        return self._position

    def mark_stale(self) -> None:
        """This replica changed the catalog: the next quote reads the change log first,
        so a replica always quotes with its own writes (read-your-writes), even when a
        refresh that started before the write ends after it."""
        self._written_ns = self._monotonic_ns()

    def fresh(self) -> bool:
        confirmed = self._confirmed_ns
        return (
            confirmed is not None
            and confirmed >= self._written_ns
            and self._monotonic_ns() - confirmed <= self.staleness_ns
        )

    async def ensure_fresh(self) -> None:
        if not self.fresh():
            await self.refresh()

    async def refresh(self) -> None:
        """Apply the outbox up to now; coalesces with a refresh that started meanwhile."""
        requested = self._monotonic_ns()
        async with self._lock:
            confirmed = self._confirmed_ns
            if confirmed is not None and confirmed >= requested:
                return
            started = self._monotonic_ns()
            self.refreshes += 1
            if self._position < 0 or confirmed is None or started - confirmed > self._read_on_ns:
                await self._restart()
            else:
                for _ in range(MAX_REFRESH_BATCHES):
                    batch = await self._log.after(self._position, REFRESH_BATCH)
                    for change in batch:
                        self._apply(change)
                    if batch:
                        self._position = batch[-1].position
                        self._generation += 1
                    if len(batch) < REFRESH_BATCH:
                        break
                else:
                    await self._restart()
            self._confirmed_ns = started

    async def _restart(self) -> None:
        """Start over from the outbox's head: forget everything, load on demand."""
        position = await self._log.head()
        self._versions.clear()
        self._lists.clear()
        self._promotions = None
        self._generation += 1
        self._position = position

    def _apply(self, change: Change) -> None:
        if change.type == PRICE_RECORDED:
            self._versions.pop(change.about, None)  # every currency of the SKU
        elif change.type == PROMOTION_CHANGED:
            self._promotions = None
        elif change.type == PRICE_LIST_CHANGED:
            self._lists.clear()

    async def versions(
        self, skus: Sequence[str], currency_code: str
    ) -> dict[str, list[PriceVersion]]:
        """``PriceStore.versions``, from the cache."""
        await self.ensure_fresh()
        cached = {sku: self._versions.get(sku, {}).get(currency_code) for sku in skus}
        versions = {sku: found for sku, found in cached.items() if found is not None}
        missing = [sku for sku in skus if sku not in versions]
        if missing:
            generation = self._generation
            loaded = await self._prices.versions(missing, currency_code)
            versions.update(loaded)
            if generation == self._generation:
                if len(self._versions) + len(loaded) > MAX_CACHED_SKUS:
                    self._versions.clear()
                for sku, found in loaded.items():
                    self._versions.setdefault(sku, {})[currency_code] = found
        return versions

    async def price_lists(self, currency_code: str) -> dict[str, PriceList]:
        """``PriceListStore.of_currency``, from the cache."""
        await self.ensure_fresh()
        lists = self._lists.get(currency_code)
        if lists is None:
            generation = self._generation
            lists = await self._price_lists.of_currency(currency_code)
            if generation == self._generation:
                self._lists[currency_code] = lists
        return lists

    async def for_cart(
        self, currency_code: str, skus: Sequence[str], moment: datetime
    ) -> list[Promotion]:
        """``PromotionStore.for_cart``, from the cache."""
        await self.ensure_fresh()
        promotions, horizon = self._promotions, self._horizon
        if promotions is None or horizon is None:
            generation = self._generation
            horizon = self._clock() - PROMOTION_HORIZON
            promotions = await self._promotions_store.active(horizon)
            if generation == self._generation:
                self._promotions, self._horizon = promotions, horizon
        if moment < horizon:
            return await self._promotions_store.for_cart(currency_code, skus, moment)
        return for_cart(promotions, currency_code, skus, moment)

    async def codes(self, codes: Sequence[str]) -> dict[str, tuple[DiscountCode, Promotion]]:
        return await self._promotions_store.codes(codes)

    async def customer_usage(
        self, customer_id: str, promotion_ids: Sequence[str]
    ) -> dict[str, Usage]:
        return await self._promotions_store.customer_usage(customer_id, promotion_ids)

    async def usage(self, promotion_ids: Sequence[str]) -> dict[str, Usage]:
        return await self._promotions_store.usage(promotion_ids)
