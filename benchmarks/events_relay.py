"""What the outbox costs a write, and how fast the relay drains it.

Run: ``.venv/bin/python -m benchmarks.events_relay [--writes N]``.

Two numbers, each a ratio within one run so the machine's load mostly cancels:

- append cost: transactions that insert one row of their own, with and
  without appending 3 events to the outbox in the same transaction, in
  alternating blocks of 50 so that load changes hit both alike;
- relay throughput: events per second from a full outbox to JetStream
  acknowledgements (20 subjects), against raw JetStream publishes of the same
  bodies one after another on one connection (the floor the relay is built on).

Needs PostgreSQL (127.0.0.1:5432) and NATS (127.0.0.1:4222); SQLite runs too.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.db import create_engine
from stockroom.common.events import Event, EventsConfig, append, outbox_table
from stockroom.common.events.relay import Relay, ensure_stream
from stockroom.common.events.testing import nats_client, temporary_stream
from stockroom.common.testing import temporary_database

metadata = MetaData()
outbox = outbox_table(metadata)
changes = Table(
    "changes",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("value", Integer, nullable=False),
)


def events(config: EventsConfig, n: int, per_write: int) -> list[Event]:
    return [
        Event(
            config.subject("thing", f"s{(n * per_write + i) % 20}"),
            "stockroom.bench.v1.thing_changed",
            StringValue(value=f"{n}:{i}"),
            about=f"s{i}",
        )
        for i in range(per_write)
    ]


async def writes(engine: AsyncEngine, config: EventsConfig, count: int, per_write: int) -> float:
    """Seconds for ``count`` sequential transactions (with ``per_write`` events each, or none)."""
    now = datetime.now(UTC)
    start = time.perf_counter()
    for n in range(count):
        async with engine.begin() as connection:
            await connection.execute(insert(changes).values(value=n))
            if per_write:
                await append(connection, outbox, events(config, n, per_write), now)
    return time.perf_counter() - start


async def raw_publishes(config: EventsConfig, count: int) -> float:
    body = StringValue(value="x" * 20).SerializeToString()
    async with nats_client(config.url) as client:
        js = client.jetstream()
        await ensure_stream(js, config)
        start = time.perf_counter()
        for n in range(count):
            await js.publish(config.subject("raw", "x"), body, headers={"Nats-Msg-Id": f"raw-{n}"})
        return time.perf_counter() - start


async def scenario(url: str, count: int) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    async with temporary_stream("bench", batch_size=256) as config:
        plain = with_events = 0.0
        for _ in range(max(1, count // 50)):
            plain += await writes(engine, config, 50, 0)
            with_events += await writes(engine, config, 50, 3)
        count = max(1, count // 50) * 50
        relay = Relay(engine, outbox, config)
        start = time.perf_counter()
        published = 0
        for _ in range(10 * count):
            done = await relay.publish_pending()
            published += done
            if done == 0:
                break
        drained = time.perf_counter() - start
        await relay.stop()
        raw = await raw_publishes(config, published)
    await engine.dispose()
    name = url.split(":", 1)[0]
    print(
        f"{name}: {count} writes: {plain / count * 1e3:.2f} ms plain, "
        f"{with_events / count * 1e3:.2f} ms with 3 events (x{with_events / plain:.2f}); "
        f"relay {published / drained:.0f} events/s, raw sequential publish "
        f"{published / raw:.0f}/s (relay x{raw / drained:.2f})"
    )


async def main(count: int) -> None:
    async with temporary_database("stockroom_bench") as url:
        await scenario(url, count)
    await scenario("sqlite+aiosqlite:///var/bench-events.db", count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.writes))
