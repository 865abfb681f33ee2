"""A service-like process for the crash test: appends events and runs a relay until killed.

Usage: python crash_worker.py DATABASE_URL NATS_URL STREAM PREFIX APPEND_PER_KEY
(APPEND_PER_KEY 0: only relay). Prints "ready" once its events are committed.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import MetaData

from stockroom.common.db import create_engine
from stockroom.common.events import Event, EventsConfig, append, outbox_table
from stockroom.common.events.relay import Relay

KEYS = ("k1", "k2", "k3")


async def main(url: str, nats_url: str, stream: str, prefix: str, per_key: int) -> None:
    engine = create_engine(url)
    outbox = outbox_table(MetaData())
    config = EventsConfig(
        "test",
        enabled=True,
        url=nats_url,
        stream=stream,
        subject_prefix=prefix,
        batch_size=10,
        retry_initial_s=0.02,
        retry_max_s=0.2,
    )
    relay = Relay(engine, outbox, config)
    await relay.start()
    for n in range(per_key):
        async with engine.begin() as connection:
            await append(
                connection,
                outbox,
                [
                    Event(
                        config.subject("thing", key),
                        "stockroom.test.v1.thing_changed",
                        StringValue(value=f"{key}:{n}"),
                        about=key,
                    )
                    for key in KEYS
                ],
                datetime.now(UTC),
            )
    print("ready", flush=True)
    await asyncio.Event().wait()  # serve until killed


if __name__ == "__main__":
    url, nats_url, stream, prefix, per_key = sys.argv[1:6]
    asyncio.run(main(url, nats_url, stream, prefix, int(per_key)))
