"""What one hot statement costs the service's own CPU, by how it is run: the way the
service runs it (SQLAlchemy's asyncio layer), step by step, and with asyncpg alone.

python -m benchmarks.statement_cost [--reads 1000] [--skus 5]

The statement is CheckAvailability's coalesced read (``store.kits.levels_with_kits``,
a ``DriverRead``)
of ``--skus`` SKUs with two levels each. Each way runs ``--reads`` times in sequence
and reports this process's CPU time per read (``time.process_time``: PostgreSQL's
own work is in other processes and is not counted). docs/performance.md ("Sixth
pass") has the numbers and what they mean for the read and write paths.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from benchmarks.inventory_writes import LOCATIONS, catalog_database, catalog_sku
from benchmarks.services import asyncpg_url
from stockroom.common.db import create_engine
from stockroom.common.db._engine import _autocommit_engine
from stockroom.inventory.store import kits
from stockroom.inventory.store.transactions import Transactions

WARM_UP = 50


async def cpu_per_call(
    label: str, reads: int, once: Callable[[], Awaitable[Any]], rows: int | None = None
) -> None:
    """Time ``once`` after a warm-up; ``rows``: how many rows each read must return."""
    for _ in range(WARM_UP):
        got = await once()
    if rows is not None:
        assert len(got) == rows, f"{label}: {len(got)} rows, expected {rows}"
    started = time.process_time()
    for _ in range(reads):
        await once()
    print(f"{label:<62} {1e6 * (time.process_time() - started) / reads:7.0f} us")


async def run(url: str, reads: int, skus: list[str]) -> None:
    engine = create_engine(url)
    transactions = Transactions(engine)
    autocommit = _autocommit_engine(engine)
    statement = kits._LEVELS_WITH_KITS["postgresql"].statement
    compiled = statement.compile(dialect=engine.dialect)
    sql = str(compiled)
    values: dict[str, Any] = {**compiled.params, "skus": skus}
    arguments = tuple(values[name] for name in compiled.positiontup or [])

    async def as_the_service_runs_it() -> Any:
        read = await transactions.read(lambda c: kits.levels_with_kits(c, skus))
        return read.levels

    async def through_sqlalchemy() -> Any:
        return await transactions.read(lambda c: _all(c, statement, values))

    async def connect_and_close() -> None:
        async with autocommit.connect():
            pass

    rows = len(skus) * len(LOCATIONS)
    print(f"CPU of this process per read of {len(skus)} SKUs, {reads} reads each:")
    await cpu_per_call("as the service runs it", reads, as_the_service_runs_it, rows)
    await cpu_per_call(
        "the same through SQLAlchemy (before DriverRead)", reads, through_sqlalchemy, rows
    )
    await cpu_per_call("the pool's connect and close alone", reads, connect_and_close)
    async with autocommit.connect() as connection:
        on_one = connection

        async def execute() -> Any:
            return (await kits.levels_with_kits(on_one, skus)).levels

        async def exec_driver_sql() -> Any:
            return (await on_one.exec_driver_sql(sql, arguments)).all()

        async def driver_fetch() -> Any:
            return await (await _driver(on_one)).fetch(sql, *arguments)

        await cpu_per_call("connection.execute on one open connection", reads, execute, rows)
        await cpu_per_call("exec_driver_sql, compiled once", reads, exec_driver_sql, rows)
        await cpu_per_call(
            "asyncpg fetch on SQLAlchemy's driver connection", reads, driver_fetch, rows
        )
    await engine.dispose()
    own = await asyncpg.connect(asyncpg_url(url))
    try:

        async def fetch() -> Any:
            return await own.fetch(sql, *arguments)

        await cpu_per_call("asyncpg fetch on a connection of its own", reads, fetch, rows)
    finally:
        await own.close()


async def _all(connection: AsyncConnection, statement: Any, values: dict[str, Any]) -> Any:
    return (await connection.execute(statement, values)).all()


async def _driver(connection: AsyncConnection) -> Any:
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.statement_cost", description=__doc__
    )
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--skus", type=int, default=5)
    args = parser.parse_args()
    async with catalog_database("stockroom_statement_cost", args.skus) as url:
        await run(url, args.reads, [catalog_sku(n) for n in range(args.skus)])


if __name__ == "__main__":
    asyncio.run(main())
