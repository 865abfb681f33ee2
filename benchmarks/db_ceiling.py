"""The database's own ceiling for batched reservations: raw asyncpg, no gRPC, no service.

python -m benchmarks.db_ceiling [--connections 4] [--batch 128] [--batches 60]

Each connection owns a range of SKUs (as a replica's batches mostly touch
different levels) and applies a sequence of batches of one-line
reservations with the inventory's own one-statement plan
(``store.plan.APPLY``: lock the batch's levels in order, check versions,
write levels, reservations, allocations, ledger entries and request records).
The plans are decided beforehand with ``domain.decide`` on the connection's
own view of its levels, so the timed loop is only the database's work plus
one round trip per batch: the ceiling a fleet of processes could reach.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from benchmarks.inventory_writes import catalog_database, catalog_sku
from benchmarks.services import asyncpg_url
from stockroom.inventory.domain.decide import Done, Snapshot, Write, decide
from stockroom.inventory.domain.model import Line, ReservationRequest, Reserve, StockKey, StockLevel
from stockroom.inventory.store import plan

SKUS_PER_CONNECTION = 2_000


class _Key:
    def __init__(self) -> None:
        self.request_id = str(uuid.uuid4())
        self.method = "ReserveStock"
        self.fingerprint = "bench"


def compiled_apply() -> tuple[str, list[str]]:
    """``plan.APPLY`` as asyncpg SQL ($1, $2, ...) and the parameter names in order."""
    compiled = plan.APPLY.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
    names: list[str] = list(compiled.positiontup or [])
    return str(compiled), names


def plans(first_sku: int, batches: int, batch: int) -> list[dict[str, Any]]:
    """Batches of one-line reservations on this connection's SKUs, decided in sequence."""
    rng = random.Random(first_sku)
    now = datetime.now(UTC)
    units = 10**9
    levels = {
        StockKey(catalog_sku(n), loc): StockLevel(catalog_sku(n), loc, units, 0, 0, 1)
        for n in range(first_sku, first_sku + SKUS_PER_CONNECTION)
        for loc in ("WH-1", "WH-2")
    }
    sequence: list[dict[str, Any]] = []
    for _ in range(batches):
        skus = [catalog_sku(first_sku + rng.randrange(SKUS_PER_CONNECTION)) for _ in range(batch)]
        writes = [
            Write(
                Reserve(
                    ReservationRequest((Line(sku, 1),), timedelta(minutes=15), "", ()),
                    str(uuid.uuid4()),
                ),
                _Key(),
            )
            for sku in skus
        ]
        named = set(skus)
        read = {k: v for k, v in levels.items() if k.sku in named}
        snapshot = Snapshot(read, {}, {}, frozenset(named), frozenset({"WH-1", "WH-2"}))
        decision = decide(writes, snapshot, now)
        records = [
            (r.request_id, r.method, r.fingerprint, msgspec.json.encode(_result(decision, r.write)))
            for r in decision.records
        ]
        sequence.append(plan.parameters(sorted(named), read, {}, decision, records, now))
        levels.update(decision.levels)
    return sequence


def _result(decision: Any, index: int) -> Any:
    outcome = decision.outcomes[index]
    assert isinstance(outcome, Done)
    return outcome.result


async def run(url: str, connections: int, batch: int, batches: int) -> None:
    sql, names = compiled_apply()
    work = [plans(c * SKUS_PER_CONNECTION, batches, batch) for c in range(connections)]
    pool = [await asyncpg.connect(asyncpg_url(url)) for _ in range(connections)]
    try:
        statements = [await conn.prepare(sql) for conn in pool]

        async def apply_all(index: int, part: slice) -> int:
            applied = 0
            for params in work[index][part]:
                row = await statements[index].fetchrow(*(params[n] for n in names))
                if row is None or not row[0]:
                    raise AssertionError("a plan found its levels changed")
                applied += batch
            return applied

        # Warm up: the first fifth, then fresh statistics (the tables started empty, and
        # plans made for empty tables scan them), then the timed rest.
        warmup = slice(0, batches // 5)
        await asyncio.gather(*(apply_all(i, warmup) for i in range(connections)))
        await pool[0].execute("ANALYZE")
        timed = slice(batches // 5, None)
        started = time.perf_counter()
        done = sum(await asyncio.gather(*(apply_all(i, timed) for i in range(connections))))
        elapsed = time.perf_counter() - started
    finally:
        for conn in pool:
            await conn.close()
    print(
        f"{connections} connections x batches of {batch}: {done} reservations in"
        f" {elapsed:.2f} s = {done / elapsed:,.0f} reservations/s"
        f" ({done / batch / elapsed:,.0f} commits/s)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.db_ceiling", description=__doc__)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=60)
    args = parser.parse_args()
    async with catalog_database("stockroom_ceiling", args.connections * SKUS_PER_CONNECTION) as url:
        await run(url, args.connections, args.batch, args.batches)


if __name__ == "__main__":
    asyncio.run(main())
