"""Keeps a replica's catalog cache fresh: at once on PostgreSQL's NOTIFY, and by polling.

The poll runs every half staleness bound, so quotes almost never wait for a
refresh; NOTIFY makes a change visible on every replica within a round trip.
Neither is needed for the bound itself (``CatalogCache.ensure_fresh`` is). A lost
LISTEN connection is opened again after a pause; polling goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from sqlalchemy.engine import make_url

from stockroom.pricing.cache import NANOS_PER_MS, CatalogCache
from stockroom.pricing.store.changes import CHANNEL

logger = logging.getLogger(__name__)

RECONNECT_PAUSE_S = 1.0
CONNECT_TIMEOUT_S = 5.0


async def keep_fresh(cache: CatalogCache, database_url: str) -> None:
    """Refresh on every notification and at least every half bound, until cancelled."""
    woken = asyncio.Event()
    listener = None
    if make_url(database_url).get_backend_name() == "postgresql":
        listener = asyncio.create_task(_listen(database_url, woken), name="pricing-listen")
    interval_s = max(cache.staleness_ns // 2, NANOS_PER_MS) / 1e9
    failing = False
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), interval_s)
            woken.clear()
            try:
                await cache.refresh()
            except Exception as error:  # the database is away: quotes refresh (or fail) themselves
                # One line when refreshing starts failing, none per poll: a database
                # outage is logged once by the request path, not every half bound here.
                if not failing:
                    logger.warning(
                        "catalog cache refresh failing; quotes refresh it themselves",
                        extra={"error": f"{type(error).__name__}: {error}"[:300]},
                    )
                failing = True
            else:
                if failing:
                    logger.info("catalog cache refresh works again")
                failing = False
    finally:
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


async def _listen(database_url: str, woken: asyncio.Event) -> None:
    # The URL's query holds SQLAlchemy/asyncpg engine options (e.g. the statement-cache
    # settings behind a pooler), which asyncpg.connect would send as server settings.
    url = make_url(database_url).set(drivername="postgresql", query={})
    dsn = url.render_as_string(hide_password=False)
    failing = False
    while True:
        connection = None
        try:
            connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
            if failing:
                logger.info("listening for pricing changes again")
            failing = False
            closed = asyncio.Event()
            connection.add_termination_listener(lambda _connection, event=closed: event.set())
            await connection.add_listener(CHANNEL, lambda *_args: woken.set())
            woken.set()  # changes may have come while we were not listening
            await closed.wait()
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            if not failing:  # once per outage, not once per reconnect attempt
                logger.warning(
                    "cannot LISTEN for pricing changes; polling only",
                    extra={"error": f"{type(error).__name__}: {error}"[:300]},
                )
            failing = True
        finally:
            if connection is not None and not connection.is_closed():
                await connection.close()
        await asyncio.sleep(RECONNECT_PAUSE_S)
