"""Retention: what the sweeper deletes so request records, the outbox and settled
reservations stay small."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.events import prune_published, prune_request_records
from stockroom.inventory.store import reservation_rows
from stockroom.inventory.store.clock import Clock
from stockroom.inventory.store.tables import outbox, request_records
from stockroom.inventory.store.transactions import Transactions

# Settled reservations deleted per transaction, and transactions per sweep (the next
# sweep goes on), like common's pruning of request records.
SETTLED_BATCH = 1000
SETTLED_MAX_BATCHES = 100
DEFAULT_SETTLED_RESERVATION_AGE_S = 30 * 86_400.0


class Retention:
    """Request records older than their age (a retry after that is a new request), outbox
    rows some time after the relay published them (pending ones never), and reservations
    some time after they were settled (confirmed, released, expired or mixed; active ones
    never). The ledger keeps every entry: a pruned reservation's id stays on its entries."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        request_records_age_s: float,
        published_events_age_s: float,
        settled_reservations_age_s: float = DEFAULT_SETTLED_RESERVATION_AGE_S,
    ) -> None:
        self._engine = engine
        self._transactions = Transactions(engine)
        self._clock = clock
        self._records_age = timedelta(seconds=request_records_age_s)
        self._events_age = timedelta(seconds=published_events_age_s)
        self._settled_age = timedelta(seconds=settled_reservations_age_s)

    async def prune(self) -> int:
        """Delete what is old enough now (bounded batches); how many rows went (a
        reservation counts once, with its allocations)."""
        now = self._clock()
        removed = await prune_request_records(
            self._engine, request_records, created_before=now - self._records_age
        )
        removed += await prune_published(
            self._engine, outbox, published_before=now - self._events_age
        )
        removed += await self.prune_settled_reservations(now - self._settled_age)
        return removed

    async def prune_settled_reservations(self, settled_before: datetime) -> int:
        """Delete reservations settled before ``settled_before``, in bounded batches."""

        async def batch(connection: AsyncConnection) -> int:
            return await reservation_rows.prune_settled(connection, settled_before, SETTLED_BATCH)

        removed = 0
        for _ in range(SETTLED_MAX_BATCHES):
            count = await self._transactions.write(batch)
            removed += count
            if count < SETTLED_BATCH:
                break
        return removed
