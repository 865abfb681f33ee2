"""The per-process catalog cache and its staleness bound, with two replicas on one database.

The bound: no quote uses a price or promotion superseded more than the bound before
the quote started, whether or not notifications arrive. Shown three ways: with
hand-moved clocks on two caches (deterministic), with NOTIFY between two servers
(a change shows up on the other replica although its bound is an hour), and with a
writer and a reader racing through two servers, checking every quote's recorded
price version against when its successors were written.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.client import Policy
from stockroom.common.db import create_engine, migrate
from stockroom.common.events import prune_published
from stockroom.pricing.app import MIGRATIONS
from stockroom.pricing.cache import CatalogCache
from stockroom.pricing.domain.money import RoundingMode
from stockroom.pricing.domain.price_choice import ListView, candidates, choose
from stockroom.pricing.domain.price_lists import ListStatus, status_change
from stockroom.pricing.domain.prices import PriceListScope, PriceVersion
from stockroom.pricing.domain.promotions import (
    LifecycleChange,
    PromotionTarget,
    PromotionTerms,
    change_status,
)
from stockroom.pricing.domain.tiers import PriceSchedule
from stockroom.pricing.store.changes import ChangeLog
from stockroom.pricing.tables import outbox
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

from .catalog import list_store, price_store, prices_at, promotion_store, record
from .conftest import replicas_of
from .test_api import cart, usd

USD = PriceListScope("USD")
BOUND_MS = 250
PATIENT = Policy(timeout_s=60.0, retry=None, breaker=None)


class HandClock:
    """A monotonic clock in nanoseconds that moves only when told."""

    def __init__(self) -> None:
        self.now_ns = 10**12

    def __call__(self) -> int:
        return self.now_ns

    def advance_ms(self, ms: int) -> None:
        self.now_ns += ms * 1_000_000


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(MIGRATIONS, database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


def replica(engine: AsyncEngine, clock: HandClock, retention_ms: int = 86_400_000) -> CatalogCache:
    return CatalogCache(
        price_store(engine),
        list_store(engine),
        promotion_store(engine),
        ChangeLog(engine),
        staleness_ms=BOUND_MS,
        clock=utc_now,
        monotonic_ns=clock,
        log_retention_ms=retention_ms,
    )


async def cached_price(cache: CatalogCache, sku: str) -> PriceVersion | None:
    """What a quote on this replica prices ``sku`` with now (the cache's versions and lists)."""
    recorded = (await cache.versions([sku], "USD"))[sku]
    lists = await cache.price_lists("USD")
    return choose(
        candidates(recorded, lists, RoundingMode.HALF_EVEN), ListView(lists), USD, utc_now()
    )


async def test_a_replica_sees_every_change_once_the_bound_has_passed(engine: AsyncEngine) -> None:
    writer, reader_clock = price_store(engine), HandClock()
    reader = replica(engine, reader_clock)
    now = utc_now()
    first = await record(writer, "MUG", USD, PriceSchedule.per_unit(1000), now)
    promotions = promotion_store(engine)
    terms = PromotionTerms("Mugs", "USD", PromotionTarget.SKUS, frozenset({"MUG"}), 1000, None)
    sale = await promotions.create(terms, now, now)

    assert await cached_price(reader, "MUG") == first
    assert [p.promotion_id for p in await reader.for_cart("USD", ["MUG"], utc_now())] == [
        sale.promotion_id
    ]
    reads = reader.refreshes

    later = utc_now()
    second = await record(writer, "MUG", USD, PriceSchedule.per_unit(900), later)
    paused = change_status(sale, LifecycleChange.PAUSE, later)
    assert paused is not None
    await promotions.save_version(paused, sale.version)

    # Within the bound the replica may answer from what it has: it reads nothing.
    reader_clock.advance_ms(BOUND_MS)
    assert await cached_price(reader, "MUG") == first
    assert reader.refreshes == reads
    # One nanosecond past the bound, the change is applied before the answer.
    reader_clock.advance_ms(1)
    assert await cached_price(reader, "MUG") == second
    assert await reader.for_cart("USD", ["MUG"], utc_now()) == []
    assert reader.refreshes == reads + 1

    # A price list's status is a change like any other: archived, its prices stop.
    await list_store(engine).change_status(
        int(first.list_id),
        lambda current, active, now: status_change(current, ListStatus.ARCHIVED, active, now),
        utc_now,
    )
    reader_clock.advance_ms(BOUND_MS)
    assert await cached_price(reader, "MUG") == second
    reader_clock.advance_ms(1)
    assert await cached_price(reader, "MUG") is None
    assert await prices_at(writer, ["MUG"], USD, utc_now()) == {}


async def test_a_replica_that_read_nothing_for_half_the_retention_starts_over(
    engine: AsyncEngine,
) -> None:
    """Outbox rows are pruned after the retention: a cache that paused longer than half of
    it cannot read on from its position (rows after it may be gone), so it starts over."""
    writer, reader_clock = price_store(engine), HandClock()
    reader = replica(engine, reader_clock, retention_ms=60_000)
    now = utc_now()
    first = await record(writer, "MUG", USD, PriceSchedule.per_unit(1000), now)
    assert await cached_price(reader, "MUG") == first
    later = utc_now()
    second = await record(writer, "MUG", USD, PriceSchedule.per_unit(900), later)
    # Every row goes, as the sweeper deletes them once they are old enough.
    pruned = await prune_published(engine, outbox, published_before=utc_now() + timedelta(days=1))
    assert pruned >= 2
    assert await ChangeLog(engine).after(reader.position, 10) == []

    reader_clock.advance_ms(30_001)  # more than half the retention since the last read

    assert await cached_price(reader, "MUG") == second
    # Positions are never handed out again: the next change is after every pruned one.
    third = await record(writer, "MUG", USD, PriceSchedule.per_unit(800), utc_now())
    reader_clock.advance_ms(BOUND_MS + 1)
    assert await cached_price(reader, "MUG") == third


@pytest.fixture
async def two_replicas(
    postgres_url: str, inventory_target: str
) -> AsyncIterator[list[pb_grpc.PricingServiceAsyncStub]]:
    """Two pricing servers on one PostgreSQL: the second with a bound of an hour, so
    within a test only NOTIFY can refresh it."""
    hour = {"cache_staleness_ms": 3_600_000}
    async with replicas_of(postgres_url, inventory_target, PATIENT, {}, hour) as stubs:
        yield stubs


@pytest.mark.postgres
async def test_notify_refreshes_the_other_replica_at_once(
    two_replicas: list[pb_grpc.PricingServiceAsyncStub],
) -> None:
    writer, reader = two_replicas
    await writer.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10)))
    before = await reader.Quote(cart(("MUG", 1)))
    changed = (await writer.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(9)))).price

    seen = before.lines[0].price_id
    for _ in range(400):  # a generous bound on polls; NOTIFY takes one round trip
        seen = (await reader.Quote(cart(("MUG", 1)))).lines[0].price_id
        if seen == changed.price_id:
            break
        await asyncio.sleep(0.05)

    assert before.lines[0].price_id != changed.price_id
    assert seen == changed.price_id


@pytest.fixture
async def bounded_replicas(
    postgres_url: str, inventory_target: str
) -> AsyncIterator[list[pb_grpc.PricingServiceAsyncStub]]:
    bound = {"cache_staleness_ms": BOUND_MS}
    async with replicas_of(postgres_url, inventory_target, PATIENT, {}, bound) as stubs:
        yield stubs


@pytest.mark.postgres
@pytest.mark.slow
async def test_no_quote_uses_a_price_superseded_longer_than_the_bound_before_it(
    bounded_replicas: list[pb_grpc.PricingServiceAsyncStub],
) -> None:
    writer, reader = bounded_replicas
    written: list[tuple[str, int]] = []  # (price id, monotonic ns when SetPrice returned)
    quoted: list[tuple[int, str]] = []  # (monotonic ns when Quote was sent, price id used)
    await writer.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(100)))
    done = asyncio.Event()

    async def write() -> None:
        for cents in range(99, 59, -1):
            request = pb.SetPriceRequest(
                sku="MUG", unit_price=usd(cents), request_id=str(uuid.uuid4())
            )
            price = (await writer.SetPrice(request)).price
            written.append((price.price_id, time.monotonic_ns()))
            await asyncio.sleep(0.02)
        done.set()

    async def read() -> None:
        for _ in range(2000):  # bounded; stops when the writer is done
            if done.is_set():
                return
            started = time.monotonic_ns()
            quote: Any = await reader.Quote(cart(("MUG", 1)))
            quoted.append((started, quote.lines[0].price_id))

    await asyncio.gather(write(), read())

    order = [price_id for price_id, _ in written]
    returned = dict(written)
    violations = []
    for started, price_id in quoted:
        later = order[order.index(price_id) + 1 :] if price_id in order else order
        superseded = [returned[p] for p in later]
        if superseded and min(superseded) < started - BOUND_MS * 1_000_000:
            violations.append((started, price_id))
    assert len(quoted) > 10
    assert violations == []
