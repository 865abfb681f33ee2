"""WatchStock: the ledger as a resumable stream, with one database poller per replica.

Readers only ever see final ledger entries, in position order, and an entry
that becomes final later has a larger position than every entry read before
(``store.ledger``), so "everything after P" is a complete answer at any
moment, and a client that resumes from the last sequence it saw misses
nothing and sees nothing twice.

One ``LedgerTail`` per replica reads new entries (woken at once by commits on
this replica, and every ``poll_interval_s`` for commits on others) and hands
them to the subscriptions of this replica's watchers. While nobody watches it
reads nothing; the first watcher to arrive moves it to the current end of
the ledger. A watcher first catches
up from the database to where the tail was when it subscribed, then follows
the tail. A watcher that falls too far behind loses its subscription and
catches up from the database again, instead of holding memory or the tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from stockroom.inventory.domain.model import Movement

logger = logging.getLogger(__name__)

READ_BATCH = 500
SUBSCRIPTION_BUFFER = 10_000


class LedgerReader(Protocol):
    async def movements_after(
        self, after: int, limit: int, skus: Sequence[str] = ()
    ) -> list[Movement]: ...

    async def last_sequence(self) -> int: ...


class Subscription:
    """Entries of some SKUs (no SKUs: of every SKU) after ``start``, as the tail reads them."""

    def __init__(self, skus: Sequence[str], start: int) -> None:
        self.skus = frozenset(skus)
        self.start = start
        self.overflowed = False
        self._entries: asyncio.Queue[Movement] = asyncio.Queue(SUBSCRIPTION_BUFFER)
        self._changed = asyncio.Event()

    def offer(self, movement: Movement) -> None:
        if self.overflowed or (self.skus and movement.level.sku not in self.skus):
            return
        try:
            self._entries.put_nowait(movement)
        except asyncio.QueueFull:
            self.overflowed = True
        self._changed.set()

    async def next_batch(self) -> list[Movement]:
        """Wait for entries (or overflow) and take all that are buffered."""
        await self._changed.wait()
        self._changed.clear()
        batch: list[Movement] = []
        while not self._entries.empty():
            batch.append(self._entries.get_nowait())
        return batch


class LedgerTail:
    def __init__(self, reader: LedgerReader, poll_interval_s: float = 0.2) -> None:
        self._reader = reader
        self._poll_interval_s = poll_interval_s
        self._subscriptions: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._reading = asyncio.Lock()
        self._position = 0

    def nudge(self) -> None:
        """A commit on this replica: read now rather than at the next poll."""
        self._wake.set()

    async def subscribe(self, skus: Sequence[str]) -> Subscription:
        await self._ready.wait()
        async with self._reading:
            if not self._subscriptions:  # the tail stood still: start from the end now
                self._position = await self._reader.last_sequence()
            subscription = Subscription(skus, self._position)
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    async def run(self) -> None:
        """Follow the ledger until cancelled; database errors are logged and retried."""
        while not self._ready.is_set():
            try:
                self._position = await self._reader.last_sequence()
                self._ready.set()
            except Exception:
                logger.exception("ledger tail cannot read the ledger head; retrying")
                await asyncio.sleep(self._poll_interval_s)
        while True:
            entries = await self._follow() if self._subscriptions else []
            if len(entries) < READ_BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
                self._wake.clear()

    async def _follow(self) -> list[Movement]:
        async with self._reading:
            try:
                entries = await self._reader.movements_after(self._position, READ_BATCH)
            except Exception:
                logger.exception("ledger tail read failed; retrying")
                return []
            for entry in entries:
                for subscription in self._subscriptions:
                    subscription.offer(entry)
                self._position = entry.sequence
            return entries


async def watch_movements(
    tail: LedgerTail, reader: LedgerReader, skus: Sequence[str], after: int
) -> AsyncIterator[list[Movement]]:
    """Batches of the entries of ``skus`` (none: of every SKU) with a sequence above
    ``after``, forever. The catch-up reads the same filter from the database
    (``movements_after`` with no SKUs reads every entry)."""
    cursor = after
    while True:
        subscription = await tail.subscribe(skus)
        try:
            while cursor < subscription.start:
                stored = await reader.movements_after(cursor, READ_BATCH, skus)
                if not stored:
                    break
                yield stored
                cursor = stored[-1].sequence
            while not subscription.overflowed:
                fresh = [m for m in await subscription.next_batch() if m.sequence > cursor]
                if fresh:
                    yield fresh
                    cursor = fresh[-1].sequence
            logger.info("watcher fell behind; catching up from the database")
        finally:
            tail.unsubscribe(subscription)
