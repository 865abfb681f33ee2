"""Change events for prices and promotions: the change log published to NATS JetStream.

The change log (``store.changes``) is the outbox: each change was logged in its
own transaction, so nothing is published that did not happen and nothing that
happened is lost. One replica at a time publishes (the ``change_cursors`` row
lock; the others skip the round), in log order, each message with
``Nats-Msg-Id`` = its log position, so JetStream drops a repeat (a publisher
that died between publishing and moving its cursor publishes again). The cursor
moves only past what JetStream acknowledged: while the broker is away nothing
moves, and everything goes out once it is back.

Subjects: ``<prefix>.price`` and ``<prefix>.promotion``; the body is JSON with
``position``, ``kind``, ``key``, ``recorded_at`` and the change's fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import Error as JetStreamError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import run_transaction
from stockroom.pricing.tables import change_cursors, changes

logger = logging.getLogger(__name__)

CURSOR = "nats"


@dataclass(frozen=True)
class EventSettings:
    # PRICING_EVENTS_NATS_URL: where JetStream is; empty: no events are published.
    nats_url: str = ""
    # PRICING_EVENTS_STREAM: the JetStream stream (created if missing).
    stream: str = "PRICING_CHANGES"
    # PRICING_EVENTS_SUBJECT: subjects are <this>.price and <this>.promotion.
    subject: str = "pricing.changes"
    batch: int = 100
    interval_s: float = 0.5
    timeout_s: float = 2.0


class ChangePublisher:
    def __init__(self, engine: AsyncEngine, settings: EventSettings) -> None:
        self._engine = engine
        self.settings = settings
        self._client: Client | None = None
        self._stream_ready = False

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    async def publish_pending(self) -> int:
        """Publish the changes after the cursor (one batch); how many went out. Raises
        when the broker cannot be reached or does not acknowledge: nothing moves then."""
        js = (await self._connect()).jetstream(timeout=self.settings.timeout_s)
        if not self._stream_ready:
            subjects = [f"{self.settings.subject}.>"]
            await js.add_stream(name=self.settings.stream, subjects=subjects)
            self._stream_ready = True

        async def work(connection: AsyncConnection) -> int:
            cursor = (
                await connection.execute(
                    select(change_cursors.c.position)
                    .where(change_cursors.c.name == CURSOR)
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if cursor is None:  # another replica is publishing right now
                return 0
            rows = (
                await connection.execute(
                    select(changes)
                    .where(changes.c.position > cursor)
                    .order_by(changes.c.position)
                    .limit(self.settings.batch)
                )
            ).all()
            for row in rows:
                await js.publish(
                    f"{self.settings.subject}.{row.kind.lower()}",
                    json.dumps(_event(row), sort_keys=True).encode(),
                    timeout=self.settings.timeout_s,
                    headers={"Nats-Msg-Id": str(row.position)},
                )
            if rows:
                await connection.execute(
                    update(change_cursors)
                    .where(change_cursors.c.name == CURSOR)
                    .values(position=rows[-1].position)
                )
            return len(rows)

        try:
            return await run_transaction(self._engine, work)
        except (NatsError, JetStreamError, OSError, TimeoutError):
            await self.close()  # connect afresh next time
            raise

    async def _connect(self) -> Client:
        if self._client is None or not self._client.is_connected:
            await self.close()
            # nats-py retries a refused first connect forever unless the attempts are
            # bounded (0 means "no bound"); the outer timeout bounds it again.
            async with asyncio.timeout(4 * self.settings.timeout_s):
                self._client = await nats.connect(
                    self.settings.nats_url,
                    connect_timeout=self.settings.timeout_s,
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.1,
                    error_cb=_ignore,
                )
            self._stream_ready = False
        return self._client

    async def run(self) -> None:
        """Publish until cancelled; a broker outage is logged once and retried each round."""
        down = False
        try:
            while True:
                try:
                    published = await self.publish_pending()
                    if down:
                        logger.info("publishing pricing changes again")
                    down = False
                except (NatsError, JetStreamError, OSError, TimeoutError):
                    if not down:
                        logger.warning("cannot publish pricing changes; will retry", exc_info=True)
                    down, published = True, 0
                if published < self.settings.batch:
                    await asyncio.sleep(self.settings.interval_s)
        finally:
            await self.close()


async def _ignore(error: Exception) -> None:
    """nats-py reports every failed attempt here; ``run`` logs an outage once instead."""


def _event(row: Any) -> dict[str, Any]:
    return {
        **row.payload,
        "position": row.position,
        "kind": row.kind,
        "key": row.entity_key,
        "recorded_at": row.recorded_at.isoformat(),
    }
