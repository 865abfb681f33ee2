"""What one batch of inventory writes costs the service's own CPU, step by step.

python -m benchmarks.batch_cost [--batches 300] [--size 14]

Seeds a database as the ReserveStock rows do (a server process: the usual
seed and its served history), then, in this process, runs ``--batches``
batches of ``--size`` one-line reservations through ``StockWrites``' flush,
one after another, each with fresh request ids, and reports this process's
CPU time per batch and per write (``time.process_time``: PostgreSQL's own
work is in other processes and is not counted):

- the whole flush (read, decide, apply in one statement, answers);
- the read alone, as the flush runs it;
- deciding alone, on one batch's read, in memory;
- the whole flush of a batch of confirmations (each of a reservation made by an
  earlier flush, not counted): what a reserve+confirm pair's second write costs.

No gRPC and no other calls share the process, so the numbers are steadier
than the load rows' and show a change to the write path in a few seconds.
Compare only runs made one after another: this machine's speed varies by a
third over an hour. docs/performance.md (the eighth and ninth passes) has the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from benchmarks.inventory_writes import _inventory
from benchmarks.services import RESERVE_STOCK, SKUS, seed_and_serve
from stockroom.common.db import RequestKey, create_engine
from stockroom.common.server._collector import tune_collector
from stockroom.inventory.app import use_cases
from stockroom.inventory.domain import decide as domain
from stockroom.inventory.domain.decide import Write
from stockroom.inventory.domain.model import Confirm, Line, ReservationRequest, Reserve
from stockroom.inventory.service.writes import StockWrites
from stockroom.inventory.store.transactions import Transactions

WARM_UP = 30
# As run_service tunes it (``<P>_GC_THRESHOLD``'s default).
GC_THRESHOLD = 50_000
TTL = timedelta(minutes=15)


def reservations(size: int) -> list[Write]:
    """``size`` one-line reservations of random SKUs, each with its own request id."""
    return [
        Write(
            Reserve(
                ReservationRequest((Line(random.choice(SKUS), 1),), TTL, "", ()),
                str(uuid.uuid4()),
            ),
            RequestKey(str(uuid.uuid4()), RESERVE_STOCK, "0" * 64),
        )
        for _ in range(size)
    ]


CONFIRM_RESERVATION = "/stockroom.inventory.v1.InventoryService/ConfirmReservation"


async def flushed(writes: StockWrites, batch: list[Write]) -> None:
    """Flush ``batch``; every write of it must have succeeded."""
    outcomes = await writes._flush(batch)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert not failed, failed


async def confirmations(writes: StockWrites, size: int) -> list[Write]:
    """``size`` confirmations, each of a reservation that a flush made just now."""
    made = reservations(size)
    await flushed(writes, made)
    return [
        Write(
            Confirm(w.command.reservation_id, ""),
            RequestKey(str(uuid.uuid4()), CONFIRM_RESERVATION, "0" * 64),
        )
        for w in made
        if isinstance(w.command, Reserve)
    ]


async def cpu_per_batch(
    label: str, batches: Sequence[Any], once: Callable[[Any], Awaitable[object]], size: int
) -> None:
    started = time.process_time()
    for batch in batches:
        await once(batch)
    per_batch = 1e6 * (time.process_time() - started) / len(batches)
    print(f"{label:<44} {per_batch:7.0f} us a batch {per_batch / size:6.0f} us a write")


async def run(url: str, batches: int, size: int) -> None:
    engine = create_engine(url)
    writes: StockWrites = use_cases(Transactions(engine)).writes
    try:
        for _ in range(WARM_UP):
            await writes._flush(reservations(size))

        async def flush(batch: list[Write]) -> None:
            await flushed(writes, batch)

        async def read(batch: list[Write]) -> object:
            return await writes._transactions.read(lambda c: writes._read(c, batch))

        one = reservations(size)
        snapshot: Any = await read(one)
        now = writes._clock()

        async def decide(_: object) -> None:
            domain.decide(one, snapshot, now)

        await cpu_per_batch(
            "the whole flush", [reservations(size) for _ in range(batches)], flush, size
        )
        await cpu_per_batch("its read", [reservations(size) for _ in range(batches)], read, size)
        await cpu_per_batch("deciding, in memory", range(batches * 5), decide, size)
        confirming = [await confirmations(writes, size) for _ in range(batches)]
        await cpu_per_batch("confirmations: the whole flush", confirming, flush, size)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--size", type=int, default=14, help="reservations a batch")
    args = parser.parse_args()
    # The served database (its server stays up, idle, in its own process).
    with _inventory(seed_and_serve) as (_, url):
        tune_collector(GC_THRESHOLD)
        asyncio.run(run(url, args.batches, args.size))


if __name__ == "__main__":
    main()
