"""Long-running jobs of a replica (the expiry sweeper, the ledger tail), started
with the server and cancelled when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from stockroom.common.events import prune_forever
from stockroom.inventory.service.reservations import ReservationService
from stockroom.inventory.service.retention import Retention

logger = logging.getLogger(__name__)


class BackgroundJobs:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await job()

        self._tasks.append(asyncio.create_task(run(), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


async def sweep_expired_reservations(
    reservations: ReservationService,
    interval_s: float,
    batch: int = 100,
    report_active: Callable[[int], None] = lambda count: None,
) -> None:
    """Expire due reservations forever: a full batch means more are due, so go on at once;
    otherwise wait ``interval_s``. After each round ``report_active`` gets the number of
    reservations still holding stock (for the ``reservations.held`` gauge). Failures are
    logged and tried again next round."""
    while True:
        try:
            expired = await reservations.expire_due(batch)
            report_active(await reservations.count_active())
        except Exception:
            logger.exception("expiry sweep failed; retrying")
            expired = []
        if expired:
            logger.info("expired reservations", extra={"count": len(expired)})
        if len(expired) < batch:
            await asyncio.sleep(interval_s)


async def sweep_old_rows(retention: Retention, interval_s: float) -> None:
    """Prune request records, published events and settled reservations forever, every
    ``interval_s`` (``stockroom.common.events.prune_forever``: failures are logged and tried
    again)."""
    await prune_forever(retention.prune, interval_s)
