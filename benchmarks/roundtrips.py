"""Database round trips per RPC, counted on the wire (``benchmarks.wire_count``).

    python -m benchmarks.roundtrips

Each service runs as a process whose PostgreSQL connections go through a
counting proxy; each RPC is called a few times to warm the connection's
statement cache, then ``CALLS`` times one after another. "in call" is what
the call itself waits for; "after" is what its commit makes the ledger tail
read (shared by every commit the tail sees in one wake-up, so under load it
is far below one per call). Background jobs are slowed down so that they do
not blur the counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from benchmarks.processes import free_port, server_process
from benchmarks.services import CART, QUIET, seed_inventory, seed_prices
from benchmarks.wire_count import CountingProxy
from stockroom.common.client import connect
from stockroom.common.testing import admin_url, create_database, drop_database
from stockroom.inventory.v1 import inventory_pb2 as inv
from stockroom.inventory.v1 import inventory_pb2_grpc as inv_grpc
from stockroom.pricing.v1 import pricing_pb2 as pr
from stockroom.pricing.v1 import pricing_pb2_grpc as pr_grpc

WARMUP = 3
CALLS = 10
SETTLE_S = 0.2
# Nothing in the background while counting: no sweeps, polls or readiness pings.
SLOW_JOBS = {"SWEEP_INTERVAL_S": "3600", "WATCH_POLL_INTERVAL_S": "3600"}
SLOW_HEALTH = {"HEALTH_CHECK_INTERVAL_S": "3600"}


@dataclass(frozen=True)
class Count:
    rpc: str
    in_call: float
    after: float
    parses: float


@contextlib.contextmanager
def counted_service(
    module: str, prefix: str, extra_env: dict[str, str]
) -> Iterator[tuple[str, CountingProxy]]:
    """``module`` serving on a fresh database reached through a counting proxy."""
    admin = make_url(admin_url())
    url = asyncio.run(create_database("stockroom_roundtrips"))
    proxy = CountingProxy(admin.host or "127.0.0.1", admin.port or 5432)
    try:
        with proxy.running() as proxy_port:
            proxied = make_url(url).set(host="127.0.0.1", port=proxy_port)
            port = free_port()
            env = {
                f"{prefix}_PORT": str(port),
                f"{prefix}_DATABASE_URL": proxied.render_as_string(hide_password=False),
                **{f"{prefix}_{k}": v for k, v in {**QUIET, **SLOW_HEALTH}.items()},
                **extra_env,
            }
            with server_process([module], port, env) as address:
                yield address, proxy
    finally:
        asyncio.run(drop_database(url))


async def count(rpc: str, proxy: CountingProxy, call: Callable[[int], Awaitable[object]]) -> Count:
    for n in range(WARMUP):
        await call(n)
    await asyncio.sleep(SETTLE_S)
    in_call = after = parses = 0
    for n in range(WARMUP, WARMUP + CALLS):
        before = proxy.counter.snapshot()
        await call(n)
        returned = proxy.counter.snapshot()
        await asyncio.sleep(SETTLE_S)
        settled = proxy.counter.snapshot()
        in_call += returned["S"] + returned["Q"] - before["S"] - before["Q"]
        after += settled["S"] + settled["Q"] - returned["S"] - returned["Q"]
        parses += returned["P"] - before["P"]
    return Count(rpc, in_call / CALLS, after / CALLS, parses / CALLS)


def request_id() -> str:
    return str(uuid.uuid4())


async def inventory_counts(address: str, proxy: CountingProxy) -> list[Count]:
    async with connect(address) as channel:
        stub = inv_grpc.InventoryServiceStub(channel)

        async def reserve(lines: int) -> inv.Reservation:
            response = await stub.ReserveStock(
                inv.ReserveStockRequest(
                    lines=[inv.ReserveStockLine(sku=s, quantity=q) for s, q in CART[:lines]],
                    request_id=request_id(),
                )
            )
            return response.reservation

        held = [await reserve(3) for _ in range(2 * (WARMUP + CALLS))]

        async def check(n: int) -> object:
            lines = [inv.AvailabilityLine(sku=s, quantity=q) for s, q in CART]
            return await stub.CheckAvailability(inv.CheckAvailabilityRequest(lines=lines))

        async def receive(n: int) -> object:
            return await stub.ReceiveStock(
                inv.ReceiveStockRequest(
                    sku="SKU-001", location_id="WH-1", quantity=1, request_id=request_id()
                )
            )

        async def confirm(n: int) -> object:
            return await stub.ConfirmReservation(
                inv.ConfirmReservationRequest(
                    reservation_id=held[n].reservation_id, request_id=request_id()
                )
            )

        async def release(n: int) -> object:
            return await stub.ReleaseReservation(
                inv.ReleaseReservationRequest(
                    reservation_id=held[WARMUP + CALLS + n].reservation_id,
                    request_id=request_id(),
                )
            )

        async def get(n: int) -> object:
            return await stub.GetReservation(
                inv.GetReservationRequest(reservation_id=held[n].reservation_id)
            )

        async def levels(n: int) -> object:
            return await stub.BatchGetStockLevels(
                inv.BatchGetStockLevelsRequest(skus=[s for s, _ in CART])
            )

        return [
            await count("inventory CheckAvailability, 3 lines", proxy, check),
            await count("inventory ReserveStock, 1 line", proxy, lambda n: reserve(1)),
            await count("inventory ReserveStock, 3 lines", proxy, lambda n: reserve(3)),
            await count("inventory ConfirmReservation, 3 lines", proxy, confirm),
            await count("inventory ReleaseReservation, 3 lines", proxy, release),
            await count("inventory ReceiveStock", proxy, receive),
            await count("inventory GetReservation", proxy, get),
            await count("inventory BatchGetStockLevels, 3 SKUs", proxy, levels),
        ]


async def pricing_counts(address: str, proxy: CountingProxy) -> list[Count]:
    async with connect(address) as channel:
        stub = pr_grpc.PricingServiceStub(channel)
        lines = [pr.CartLine(sku=s, quantity=q) for s, q in CART]

        async def quote(n: int) -> object:
            return await stub.Quote(pr.QuoteRequest(currency_code="USD", lines=lines))

        async def quote_with_id(n: int) -> object:
            return await stub.Quote(
                pr.QuoteRequest(currency_code="USD", lines=lines, request_id=request_id())
            )

        return [
            await count("pricing Quote, 3 lines (pricing's database)", proxy, quote),
            await count("pricing Quote with request_id (pricing's database)", proxy, quote_with_id),
        ]


def main() -> int:
    counts: list[Count] = []
    inventory_jobs = {f"INVENTORY_{k}": v for k, v in SLOW_JOBS.items()}
    with counted_service("stockroom.inventory", "INVENTORY", inventory_jobs) as (address, proxy):
        asyncio.run(seed_inventory(address))
        counts += asyncio.run(inventory_counts(address, proxy))
        with counted_service(
            "stockroom.pricing", "PRICING", {"PRICING_INVENTORY_TARGET": address}
        ) as (pricing_address, pricing_proxy):
            asyncio.run(seed_prices(pricing_address))
            before = proxy.counter.round_trips
            counts += asyncio.run(pricing_counts(pricing_address, pricing_proxy))
            inventory_side = (proxy.counter.round_trips - before) / (2 * (WARMUP + CALLS))
    print("| RPC | round trips in the call | after it (ledger tail) | statements prepared |")
    print("| --- | ---: | ---: | ---: |")
    for c in counts:
        print(f"| {c.rpc} | {c.in_call:g} | {c.after:g} | {c.parses:g} |")
    print(
        f"\npricing Quote also costs inventory {inventory_side:g} round trips (CheckAvailability)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
