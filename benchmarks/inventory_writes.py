"""Inventory write scenarios beyond the basic ones: one hot SKU (with the oversell check
after the run) and large catalogs seeded directly in the database.

Large catalogs are seeded with ``generate_series`` in PostgreSQL (items, two
locations, a level per SKU and location, and the receipt behind each level
in the ledger), which takes seconds where gRPC calls would take hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any

import asyncpg
import grpc

from benchmarks.processes import free_port, server_process
from benchmarks.services import (
    HISTORY_ORDERS,
    QUIET,
    UNITS_PER_LOCATION,
    _database,
    asyncpg_url,
    seed_and_serve,
    serve_history,
)
from stockroom.common.db import migrate
from stockroom.common.testing import create_database, drop_database
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.v1 import inventory_pb2 as inv
from stockroom.inventory.v1 import inventory_pb2_grpc as inv_grpc

HOT_SKU = "SKU-000"
LOCATIONS = ("WH-1", "WH-2")


def catalog_sku(n: int) -> str:
    return f"C{n:07d}"


@contextlib.contextmanager
def _inventory(seed: Callable[[str, str], Coroutine[Any, Any, None]]) -> Iterator[tuple[str, str]]:
    """A fresh database and an inventory process on it, seeded; yields (address, url)."""
    with _database() as url:
        port = free_port()
        env = {"INVENTORY_PORT": str(port), "INVENTORY_DATABASE_URL": url}
        env |= {f"INVENTORY_{k}": v for k, v in QUIET.items()}
        with server_process(["stockroom.inventory"], port, env) as address:
            asyncio.run(seed(address, url))
            yield address, url


@contextlib.contextmanager
def hot_sku_server() -> Iterator[str]:
    """The usual seed; after the run, the database must show no oversell anywhere."""

    with _inventory(seed_and_serve) as (address, url):
        yield address
        problems = asyncio.run(invariant_violations(url))
        print(f"after the run: {problems or 'no oversell; levels equal the ledger'}", flush=True)
        if problems:
            raise AssertionError(problems)


def catalog_server(size: int) -> Callable[[], contextlib.AbstractContextManager[str]]:
    @contextlib.contextmanager
    def server() -> Iterator[str]:
        async def seed(address: str, url: str) -> None:
            await seed_catalog(url, size)
            skus = [catalog_sku(n) for n in random.Random(0).sample(range(size), HISTORY_ORDERS)]
            await serve_history(address, url, skus)

        with _inventory(seed) as (address, _):
            yield address

    return server


@contextlib.asynccontextmanager
async def catalog_database(name: str, size: int) -> AsyncIterator[str]:
    """A fresh database with inventory's schema and a seeded catalog of ``size`` SKUs
    (``catalog_sku``), dropped after the block: what the database-only benchmarks run on."""
    url = await create_database(name)
    try:
        await migrate(MIGRATIONS, url)
        await seed_catalog(url, size)
        yield url
    finally:
        await drop_database(url)


async def seed_catalog(url: str, size: int) -> None:
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO locations SELECT l, l, 'WAREHOUSE', now() FROM unnest($1::text[]) l",
                list(LOCATIONS),
            )
            await connection.execute(
                "INSERT INTO items SELECT 'C' || lpad(n::text, 7, '0'), '', now()"
                " FROM generate_series(0, $1 - 1) n",
                size,
            )
            await connection.execute(
                "INSERT INTO stock_levels SELECT i.sku, l, $1, 0, 0, 1"
                " FROM items i CROSS JOIN unnest($2::text[]) l",
                UNITS_PER_LOCATION,
                list(LOCATIONS),
            )
            await connection.execute(
                "INSERT INTO movements (sequence, sku, location_id, kind, on_hand_delta,"
                " reserved_delta, on_hand, reserved, safety_stock, version, reason, reference,"
                " create_time)"
                " SELECT row_number() OVER (), sku, location_id, 'RECEIPT', on_hand, 0, on_hand,"
                " 0, 0, 1, 'seed', '', now() FROM stock_levels"
            )
        # Statistics for what the seed filled, and only that. ANALYZE on a table that is
        # still empty (reservations, allocations, request records) records it as empty:
        # the plans made next (the foreign-key checks' among them) scan it, and stay
        # cached until autovacuum's next visit analyzes it again (up to a minute on a new
        # database), while it grows by thousands of rows a second. Measured: a 10k-SKU
        # run at 0.21 of echo instead of 0.4 (docs/performance.md, seventh pass).
        await connection.execute("ANALYZE locations, items, stock_levels, movements")
    finally:
        await connection.close()


async def invariant_violations(url: str) -> list[str]:
    """Oversold or negative levels, levels that differ from the ledger's sums, reserved
    units that differ from what active reservations hold."""
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        rows = await connection.fetch(
            """
            WITH ledger AS (
                SELECT sku, location_id, sum(on_hand_delta) AS on_hand,
                    sum(reserved_delta) AS reserved
                FROM movements GROUP BY 1, 2),
            held AS (
                SELECT a.sku, a.location_id, sum(a.quantity) AS reserved
                FROM reservation_allocations a JOIN reservations r USING (reservation_id)
                WHERE r.state = 'ACTIVE' GROUP BY 1, 2)
            SELECT s.sku, s.location_id, s.on_hand, s.reserved,
                l.on_hand AS ledger_on_hand, l.reserved AS ledger_reserved,
                coalesce(h.reserved, 0) AS held
            FROM stock_levels s
            LEFT JOIN ledger l USING (sku, location_id)
            LEFT JOIN held h USING (sku, location_id)
            WHERE s.reserved > s.on_hand OR s.on_hand < 0 OR s.reserved < 0
                OR s.on_hand IS DISTINCT FROM l.on_hand OR s.reserved IS DISTINCT FROM l.reserved
                OR s.reserved <> coalesce(h.reserved, 0)
            """
        )
    finally:
        await connection.close()
    return [str(dict(row)) for row in rows]


def hot_sku_call(channel: grpc.aio.Channel, worker: int) -> Callable[[int], Awaitable[object]]:
    """Every call reserves one unit of the same SKU."""
    stub = inv_grpc.InventoryServiceStub(channel)

    async def call(n: int) -> object:
        return await stub.ReserveStock(
            inv.ReserveStockRequest(
                lines=[inv.ReserveStockLine(sku=HOT_SKU, quantity=1)],
                request_id=str(uuid.uuid4()),
            ),
            timeout=10,
        )

    return call


def _catalog_call(
    size: int,
) -> Callable[[grpc.aio.Channel, int], Callable[[int], Awaitable[object]]]:
    def factory(channel: grpc.aio.Channel, worker: int) -> Callable[[int], Awaitable[object]]:
        stub = inv_grpc.InventoryServiceStub(channel)
        rng = random.Random(worker)

        async def call(n: int) -> object:
            return await stub.ReserveStock(
                inv.ReserveStockRequest(
                    lines=[inv.ReserveStockLine(sku=catalog_sku(rng.randrange(size)), quantity=1)],
                    request_id=str(uuid.uuid4()),
                ),
                timeout=10,
            )

        return call

    return factory


CATALOG_10K = 10_000
CATALOG_1M = 1_000_000
reserve_in_10k_catalog = _catalog_call(CATALOG_10K)
reserve_in_1m_catalog = _catalog_call(CATALOG_1M)
