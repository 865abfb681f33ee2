"""Long-running jobs of a replica (the expiry sweeper, the ledger tail), started
with the server and cancelled when it stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from stockroom.common.events import prune_forever
from stockroom.inventory.service.reservations import ReservationService
from stockroom.inventory.service.retention import Retention

logger = logging.getLogger(__name__)

# Well inside the time Kubernetes gives a stopping pod after the drain.
STOP_TIMEOUT_S = 5.0


class BackgroundJobs:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await job()

        self._tasks.append(asyncio.create_task(run(), name=name))

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Cancel every job and wait for them, at most ``timeout_s``: a job still running
        then (one that swallowed its cancellation, or a database call that does not
        return) is named in a warning and left behind, so a stopping server never hangs."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            if pending:
                logger.warning(
                    "background jobs did not stop when cancelled",
                    extra={"jobs": sorted(task.get_name() for task in pending)},
                )
            for task in self._tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    logger.error("background job failed", exc_info=task.exception())
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
