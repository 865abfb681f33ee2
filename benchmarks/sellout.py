"""Refusals against successes: concurrent reservations, some of a sold-out SKU.

python -m benchmarks.sellout [--rounds 5] [--clients 200] [--units 200]

Each round counts one SKU down to ``units`` available and another to none,
and fires ``clients`` one-unit reservations at once, each of either SKU at
random: the sold-out SKU's are refused with INSUFFICIENT_STOCK (and the
first SKU's, if it sells out). Successes and refusals arrive mixed, so their
latencies compare what each costs (with all calls on one SKU that sells out,
the refusals would simply be the calls that queued last). Prints the p50 and p99 of each
kind over all rounds, and checks the database shows no oversell afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid

from benchmarks.inventory_writes import HOT_SKU, hot_sku_server
from stockroom.common.client import Policy, connect
from stockroom.common.errors import FailedPrecondition
from stockroom.inventory.v1 import inventory_pb2 as inv
from stockroom.inventory.v1 import inventory_pb2_grpc as inv_grpc

SOLD_OUT = "SKU-001"
SKUS = (HOT_SKU, SOLD_OUT)


async def rounds(address: str, count: int, clients: int, units: int) -> None:
    latencies: dict[str, list[float]] = {"RESERVED": [], "INSUFFICIENT_STOCK": []}
    rng = random.Random(5)
    async with connect(address, Policy(timeout_s=60.0, breaker=None)) as channel:
        stub: inv_grpc.InventoryServiceAsyncStub = inv_grpc.InventoryServiceStub(channel)
        for _ in range(count):
            # The seed left plenty; count the two SKUs down to ``units`` and to none.
            for sku, available in ((HOT_SKU, units), (SOLD_OUT, 0)):
                for location_id, free in (("WH-1", available), ("WH-2", 0)):
                    await stub.AdjustStock(
                        inv.AdjustStockRequest(
                            sku=sku,
                            location_id=location_id,
                            on_hand=free + await _reserved(stub, sku, location_id),
                            reason="sellout bench",
                            request_id=str(uuid.uuid4()),
                        )
                    )

            async def reserve(n: int) -> None:
                started = time.perf_counter()
                try:
                    await stub.ReserveStock(
                        inv.ReserveStockRequest(
                            lines=[inv.ReserveStockLine(sku=rng.choice(SKUS), quantity=1)],
                            request_id=str(uuid.uuid4()),
                        )
                    )
                    kind = "RESERVED"
                except FailedPrecondition as error:
                    kind = error.reason
                latencies[kind].append((time.perf_counter() - started) * 1000)

            await asyncio.gather(*(reserve(n) for n in range(clients)))
    for kind, values in latencies.items():
        values.sort()
        p99 = values[int(len(values) * 0.99) - 1] if values else 0.0
        p50 = statistics.median(values) if values else 0.0
        print(f"{kind}: {len(values)} calls, p50 {p50:.1f} ms, p99 {p99:.1f} ms")


async def _reserved(stub: inv_grpc.InventoryServiceAsyncStub, sku: str, location_id: str) -> int:
    levels = await stub.BatchGetStockLevels(inv.BatchGetStockLevelsRequest(skus=[sku]))
    return sum(lv.reserved for lv in levels.skus[0].levels if lv.location_id == location_id)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sellout", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--units", type=int, default=200)
    args = parser.parse_args()
    with hot_sku_server() as address:
        asyncio.run(rounds(address, args.rounds, args.clients, args.units))


if __name__ == "__main__":
    main()
