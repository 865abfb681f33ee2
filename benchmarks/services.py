"""The real services under load: each on its own fresh PostgreSQL database, as processes,
seeded over gRPC with enough stock and prices that no call is refused."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence

import asyncpg
import grpc
from google.type import money_pb2

from benchmarks.processes import free_port, server_process
from stockroom.common.client import Policy, connect
from stockroom.common.testing import create_database, drop_database
from stockroom.inventory.v1 import inventory_pb2 as inv
from stockroom.inventory.v1 import inventory_pb2_grpc as inv_grpc
from stockroom.pricing.v1 import pricing_pb2 as pr
from stockroom.pricing.v1 import pricing_pb2_grpc as pr_grpc

SKUS = [f"SKU-{n:03d}" for n in range(50)]
LOCATIONS = ["WH-1", "WH-2"]
# Enough that a whole benchmark run cannot exhaust it: no call is refused for stock.
UNITS_PER_LOCATION = 10**9
QUIET = {"LOG_LEVEL": "WARNING"}
# Seeding is not measured; on a loaded machine a write can take longer than the default 2 s.
SEED_TIMEOUT_S = 30.0

CHECK_AVAILABILITY = "/stockroom.inventory.v1.InventoryService/CheckAvailability"
RESERVE_STOCK = "/stockroom.inventory.v1.InventoryService/ReserveStock"
QUOTE = "/stockroom.pricing.v1.PricingService/Quote"

CART = [("SKU-001", 2), ("SKU-002", 1), ("SKU-003", 5)]
AVAILABILITY_REQUEST = inv.CheckAvailabilityRequest(
    lines=[inv.AvailabilityLine(sku=s, quantity=q) for s, q in CART]
).SerializeToString()
QUOTE_REQUEST = pr.QuoteRequest(
    currency_code="USD", lines=[pr.CartLine(sku=s, quantity=q) for s, q in CART]
).SerializeToString()


@contextlib.contextmanager
def inventory_server(workers: int = 1) -> Iterator[str]:
    """Inventory on a fresh database; ``workers`` > 1 runs that many processes on its port."""
    with _database() as url:
        port = free_port()
        env = {
            "INVENTORY_PORT": str(port),
            "INVENTORY_DATABASE_URL": url,
            "INVENTORY_WORKERS": str(workers),
        }
        env |= {f"INVENTORY_{k}": v for k, v in QUIET.items()}
        with server_process(["stockroom.inventory"], port, env) as address:
            asyncio.run(seed_and_serve(address, url))
            yield address


@contextlib.contextmanager
def pricing_and_inventory(pricing_workers: int = 1) -> Iterator[str]:
    """Pricing (``pricing_workers`` processes on its port), asking its own inventory;
    yields pricing's address."""
    with inventory_server() as inventory_address, _database() as url:
        port = free_port()
        env = {
            "PRICING_PORT": str(port),
            "PRICING_DATABASE_URL": url,
            "PRICING_INVENTORY_TARGET": inventory_address,
            "PRICING_WORKERS": str(pricing_workers),
        }
        env |= {f"PRICING_{k}": v for k, v in QUIET.items()}
        with server_process(["stockroom.pricing"], port, env) as address:
            asyncio.run(seed_prices(address))
            yield address


def reserve_call(channel: grpc.aio.Channel, worker: int) -> Callable[[int], Awaitable[object]]:
    """One-line reservations of a random SKU, each with a fresh request id."""
    return _reservations(channel, worker, lines=1)


def reserve_3_lines_call(
    channel: grpc.aio.Channel, worker: int
) -> Callable[[int], Awaitable[object]]:
    """Reservations of three random SKUs (a typical cart), each with a fresh request id."""
    return _reservations(channel, worker, lines=3)


def reserve_and_confirm_call(
    channel: grpc.aio.Channel, worker: int
) -> Callable[[int], Awaitable[None]]:
    """An order's two writes: reserve one random SKU, then confirm (ship) the reservation."""
    stub = inv_grpc.InventoryServiceStub(channel)
    reserve = _reservations(channel, worker, lines=1)

    async def call(n: int) -> None:
        reservation = await reserve(n)
        await stub.ConfirmReservation(
            inv.ConfirmReservationRequest(
                reservation_id=reservation.reservation_id, request_id=str(uuid.uuid4())
            ),
            timeout=10,
        )

    return call


def _reservations(
    channel: grpc.aio.Channel, worker: int, *, lines: int
) -> Callable[[int], Awaitable[inv.Reservation]]:
    stub = inv_grpc.InventoryServiceStub(channel)
    rng = random.Random(worker)

    async def call(n: int) -> inv.Reservation:
        response = await stub.ReserveStock(
            inv.ReserveStockRequest(
                lines=[
                    inv.ReserveStockLine(sku=sku, quantity=1) for sku in rng.sample(SKUS, lines)
                ],
                request_id=str(uuid.uuid4()),
            ),
            timeout=10,
        )
        return response.reservation

    return call


@contextlib.contextmanager
def _database() -> Iterator[str]:
    """A fresh PostgreSQL database for the block, dropped after it."""
    url = asyncio.run(create_database("stockroom_bench"))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


# Seeding on a busy machine may take longer than a client's default deadline.
SEED_POLICY = Policy(timeout_s=60.0, breaker=None)


async def seed_inventory(address: str) -> None:
    async with connect(address, SEED_POLICY) as channel:
        stub = inv_grpc.InventoryServiceStub(channel)
        for location_id in LOCATIONS:
            await stub.CreateLocation(
                inv.CreateLocationRequest(
                    location=inv.Location(
                        location_id=location_id, kind=inv.LOCATION_KIND_WAREHOUSE
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                timeout=SEED_TIMEOUT_S,
            )
        for sku in SKUS:
            await stub.CreateItem(
                inv.CreateItemRequest(item=inv.Item(sku=sku), request_id=str(uuid.uuid4())),
                timeout=SEED_TIMEOUT_S,
            )
        # Receipts together: they share batches.
        await asyncio.gather(
            *(
                stub.ReceiveStock(
                    inv.ReceiveStockRequest(
                        sku=sku,
                        location_id=location_id,
                        quantity=UNITS_PER_LOCATION,
                        request_id=str(uuid.uuid4()),
                    ),
                    timeout=SEED_TIMEOUT_S,
                )
                for sku in SKUS
                for location_id in LOCATIONS
            )
        )


async def seed_and_serve(address: str, url: str) -> None:
    """The usual seed, then a served history (``serve_history``)."""
    await seed_inventory(address)
    await serve_history(address, url, SKUS)


# Orders served before a run: enough that the tables every write grows (reservations,
# allocations, request records) are past a few pages when analyzed.
HISTORY_ORDERS = 2_000


async def serve_history(address: str, url: str, skus: Sequence[str]) -> None:
    """Serve ``HISTORY_ORDERS`` one-line orders of ``skus`` (reserved, then confirmed or
    released, in turn), then ANALYZE: a run meets a database that has served, with
    statistics as autovacuum keeps them. On a database this new, autovacuum has not
    looked yet: a statement planned while a table was empty keeps scanning all of it
    from its cached plan while the run grows it (docs/performance.md, seventh pass)."""
    async with connect(address, SEED_POLICY) as channel:
        stub = inv_grpc.InventoryServiceStub(channel)

        async def order(n: int) -> None:
            reserved = await stub.ReserveStock(
                inv.ReserveStockRequest(
                    lines=[inv.ReserveStockLine(sku=skus[n % len(skus)], quantity=1)],
                    request_id=str(uuid.uuid4()),
                ),
                timeout=SEED_TIMEOUT_S,
            )
            reservation_id = reserved.reservation.reservation_id
            if n % 2:
                await stub.ConfirmReservation(
                    inv.ConfirmReservationRequest(
                        reservation_id=reservation_id, request_id=str(uuid.uuid4())
                    ),
                    timeout=SEED_TIMEOUT_S,
                )
            else:
                await stub.ReleaseReservation(
                    inv.ReleaseReservationRequest(
                        reservation_id=reservation_id, request_id=str(uuid.uuid4())
                    ),
                    timeout=SEED_TIMEOUT_S,
                )

        together = 100
        for start in range(0, HISTORY_ORDERS, together):
            await asyncio.gather(*(order(n) for n in range(start, start + together)))
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


def asyncpg_url(url: str) -> str:
    """A service's database URL as asyncpg takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def seed_prices(address: str) -> None:
    async with connect(address) as channel:
        stub = pr_grpc.PricingServiceStub(channel)
        for n, sku in enumerate(SKUS):
            await stub.SetPrice(
                pr.SetPriceRequest(
                    sku=sku,
                    unit_price=money_pb2.Money(
                        currency_code="USD", units=10 + n, nanos=500_000_000
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                timeout=SEED_TIMEOUT_S,
            )
