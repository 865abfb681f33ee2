"""Shared pieces of the event tests: a schema with an outbox, payloads, a stream per test."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.db import request_records_table
from stockroom.common.events import Event, EventsConfig, append, outbox_table
from stockroom.common.events.testing import events_config

__all__ = ["events_config"]  # the fixture, for the tests here

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

metadata = MetaData()
outbox: Table = outbox_table(metadata)
request_records: Table = request_records_table(metadata)


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)


def event(config: EventsConfig, key: str, n: int, *, dedupe_id: str = "") -> Event:
    """Event number ``n`` about ``key`` (its payload says both)."""
    return Event(
        subject=config.subject("thing", key),
        type="stockroom.test.v1.thing_changed",
        data=StringValue(value=f"{key}:{n}"),
        about=key,
        dedupe_id=dedupe_id,
    )


async def append_events(
    engine: AsyncEngine, config: EventsConfig, keys: list[str], per_key: int, per_commit: int = 5
) -> list[str]:
    """Append ``per_key`` events for each key, interleaved, ``per_commit`` per transaction.

    Returns the payloads in append order.
    """
    payloads = [f"{key}:{n}" for n in range(per_key) for key in keys]
    for start in range(0, len(payloads), per_commit):
        chunk = payloads[start : start + per_commit]
        async with engine.begin() as connection:
            await append(
                connection,
                outbox,
                [event(config, p.split(":")[0], int(p.split(":")[1])) for p in chunk],
                NOW,
            )
    return payloads
