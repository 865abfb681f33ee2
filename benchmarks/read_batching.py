"""CheckAvailability (or Quote) as concurrency grows: how many calls share a statement.

python -m benchmarks.read_batching [--rpc check|quote] [--duration 5] [--loads 2x1,...,8x8]

One inventory process on a fresh database (``benchmarks.services.inventory_server``;
with ``--rpc quote``, pricing asking it: ``pricing_and_inventory``), driven by h2load
with C connections of S streams each (a load ``CxS`` keeps C x S calls in flight).
For each load: calls/s, p50 and p99 latency, and the statements the benchmark's
databases committed per second (PostgreSQL's ``xact_commit``, which its statistics
publish about once a second: read it over several seconds). Calls per statement
(calls/s over statements/s; h2load's warm-up runs at the same rate) is how well
reads (and quote inserts) are shared. ``make bench`` drives 8 x 8 and 2 x 4; the read
batching's rules were chosen on all of these (docs/performance.md, "Twelfth pass").
Compare code versions by running them in turn, not by one run.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg

from benchmarks.h2load import H2Load
from benchmarks.services import (
    AVAILABILITY_REQUEST,
    CHECK_AVAILABILITY,
    QUOTE,
    QUOTE_REQUEST,
    asyncpg_url,
    inventory_server,
    pricing_and_inventory,
)
from stockroom.common.testing import admin_url

DATABASE_PREFIX = "stockroom_bench"
# --rpc: the servers, the method and the request h2load replays.
RPCS = {
    "check": (inventory_server, CHECK_AVAILABILITY, AVAILABILITY_REQUEST),
    "quote": (pricing_and_inventory, QUOTE, QUOTE_REQUEST),
}


async def committed() -> int:
    """Transactions committed so far in the benchmark's databases."""
    connection = await asyncpg.connect(asyncpg_url(admin_url()))
    try:
        total = await connection.fetchval(
            "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database WHERE datname LIKE $1",
            f"{DATABASE_PREFIX}%",
        )
    finally:
        await connection.close()
    return int(total)


def parse_load(text: str) -> tuple[int, int]:
    connections, streams = text.lower().split("x")
    return int(connections), int(streams)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpc", choices=sorted(RPCS), default="check")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--loads", default="2x1,1x4,2x4,4x4,8x8", help="CxS,...")
    args = parser.parse_args()
    if not H2Load.available():
        raise SystemExit("h2load not found (Debian package nghttp2-client)")
    loads = [parse_load(part) for part in args.loads.split(",") if part]
    print("| load | calls in flight | calls/s | p50 ms | p99 ms | statements/s | calls each |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    servers, method, request = RPCS[args.rpc]
    with servers() as address:
        for connections, streams in loads:
            h2load = H2Load(
                duration_s=args.duration,
                warmup_s=args.warmup,
                connections=connections,
                streams_per_connection=streams,
            )
            before, started = asyncio.run(committed()), time.monotonic()
            result = h2load.run(f"{connections}x{streams}", address, method, request)
            statements = (asyncio.run(committed()) - before) / (time.monotonic() - started)
            print(
                f"| {connections} x {streams} | {connections * streams} | {result.rps:,.0f} "
                f"| {result.p50_ms:.2f} | {result.p99_ms:.2f} | {statements:,.0f} "
                f"| {result.rps / statements if statements else 0:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
