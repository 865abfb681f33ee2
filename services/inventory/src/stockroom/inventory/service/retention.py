"""Retention: what the sweeper deletes so request records and the outbox stay small."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.events import prune_published, prune_request_records
from stockroom.inventory.store.clock import Clock
from stockroom.inventory.store.tables import outbox, request_records


class Retention:
    """Request records older than their age (a retry after that is a new request), and
    outbox rows some time after the relay published them (pending ones never)."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        request_records_age_s: float,
        published_events_age_s: float,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._records_age = timedelta(seconds=request_records_age_s)
        self._events_age = timedelta(seconds=published_events_age_s)

    async def prune(self) -> int:
        """Delete what is old enough now (bounded batches); how many rows went."""
        now = self._clock()
        removed = await prune_request_records(
            self._engine, request_records, created_before=now - self._records_age
        )
        removed += await prune_published(
            self._engine, outbox, published_before=now - self._events_age
        )
        return removed
