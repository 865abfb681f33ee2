"""Retention: what a service's sweeper deletes so the outbox and request records stay small.

Deletes go in batches, each its own short transaction, so a large backlog
never holds locks for long; a bounded number of batches per call keeps one
sweep bounded too (the next sweep continues).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("stockroom.common.events")

DEFAULT_BATCH_SIZE = 1000
DEFAULT_MAX_BATCHES = 100


async def prune_forever(prune: Callable[[], Awaitable[int]], interval_s: float) -> None:
    """A service's sweeper: ``prune()`` every ``interval_s`` until cancelled. A failed
    round is logged and tried again next round; a round that removed rows says how many."""
    while True:
        try:
            removed = await prune()
        except Exception:
            logger.exception("retention sweep failed; retrying")
            removed = 0
        if removed:
            logger.info("pruned old rows", extra={"count": removed})
        await asyncio.sleep(interval_s)


async def prune_published(
    engine: AsyncEngine,
    outbox: Table,
    *,
    published_before: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int = DEFAULT_MAX_BATCHES,
) -> int:
    """Delete outbox rows published before ``published_before``; how many went.

    Pending rows are never touched, however old: they are events not yet
    delivered.
    """
    cutoff = published_before.astimezone(UTC)
    condition = outbox.c.publish_time.is_not(None) & (outbox.c.publish_time < cutoff)
    return await _delete_in_batches(
        engine, outbox, outbox.c.position, condition, batch_size, max_batches
    )


async def prune_request_records(
    engine: AsyncEngine,
    records: Table,
    *,
    created_before: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int = DEFAULT_MAX_BATCHES,
) -> int:
    """Delete request records (idempotency keys) created before ``created_before``.

    After that, a retry of such a request is evaluated as a new request: the
    age must exceed how long any caller keeps retrying (hours, not seconds).
    Records still being claimed (no response yet) are left alone.
    """
    cutoff = created_before.astimezone(UTC)
    condition = records.c.response.is_not(None) & (records.c.create_time < cutoff)
    return await _delete_in_batches(
        engine, records, records.c.request_id, condition, batch_size, max_batches
    )


async def _delete_in_batches(
    engine: AsyncEngine,
    table: Table,
    key: ColumnElement[object],
    condition: ColumnElement[bool],
    batch_size: int,
    max_batches: int,
) -> int:
    if batch_size < 1 or max_batches < 1:
        raise ValueError("batch_size and max_batches must be at least 1")
    chosen = select(key).where(condition).limit(batch_size)
    statement = delete(table).where(key.in_(chosen))
    deleted = 0
    for _ in range(max_batches):
        async with engine.begin() as connection:
            count = (await connection.execute(statement)).rowcount
        deleted += count
        if count < batch_size:
            break
    return deleted
