"""The relay: publishes committed outbox rows to NATS JetStream, in order, at least once.

One relay per process, next to the gRPC server. Each round it reads the
oldest pending rows, publishes them (per subject one after another, waiting
for each acknowledgement; different subjects concurrently), and marks the
acknowledged ones published. On PostgreSQL all that is one transaction
holding an advisory lock: replicas take turns, so events leave in position
order whichever replica wrote them. SQLite is one process, one relay.

A row acknowledged by JetStream but not yet marked (a crash, a lost
connection) is published again later with the same ``Nats-Msg-Id``, which
JetStream drops within the stream's duplicate window: consumers see each
event once in the stream, though they must still tolerate a redelivery.

Commits that appended events wake the relay at once (``watch_commits``);
otherwise it polls every ``poll_interval_s`` with one indexed query. While
the broker is unreachable, events stay in the outbox and the relay retries
with doubling pauses: one WARNING when that starts, one INFO when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from opentelemetry.metrics import CallbackOptions, Observation
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.events._config import EventsConfig
from stockroom.common.events._envelope import envelope, message_id
from stockroom.common.events._outbox import watch_commits
from stockroom.common.events._stream import ensure_stream
from stockroom.common.telemetry import GLOBAL_TELEMETRY, Telemetry

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# What a broker that is down, restarting or unreachable raises.
BROKER_ERRORS: tuple[type[BaseException], ...] = (nats.errors.Error, OSError, TimeoutError)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Outage:
    """One WARNING when a dependency starts failing, one INFO when it works again."""

    def __init__(self, what: str, consequence: str) -> None:
        self._what = what
        self._consequence = consequence
        self._since: float | None = None
        self.failures = 0

    @property
    def active(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> None:
        self.failures += 1
        if self._since is None:
            self._since = time.monotonic()
            logger.warning(
                f"{self._what} unreachable: {self._consequence}",
                extra={"error": f"{type(error).__name__}: {error}"},
            )

    def recovered(self) -> None:
        if self._since is not None:
            lasted = time.monotonic() - self._since
            self._since = None
            logger.info(
                f"{self._what} reachable again",
                extra={"outage_s": round(lasted, 3), "failed_attempts": self.failures},
            )
            self.failures = 0


class Relay:
    """Publishes ``outbox`` rows of ``engine``'s database to JetStream (``start``/``stop``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Table,
        config: EventsConfig,
        *,
        clock: Clock = _utc_now,
        telemetry: Telemetry = GLOBAL_TELEMETRY,
    ) -> None:
        if not config.enabled:
            raise ValueError("EventsConfig.enabled is false: publishing is off, start no relay")
        self._engine = engine
        self._outbox = outbox
        self._config = config
        self._clock = clock
        self._lock_key = zlib.crc32(f"stockroom.events:{outbox.name}".encode())
        self._select = (
            select(outbox)
            .where(outbox.c.publish_time.is_(None))
            .order_by(outbox.c.position)
            .limit(config.batch_size)
        )
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._unwatch: Callable[[], None] | None = None
        self._client: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self.broker = _Outage("event broker", "events wait in the outbox until it is back")
        self.database = _Outage("outbox database", "events wait until it is back")
        # Counters (tests, metrics): acknowledged publications, and those JetStream
        # recognised as duplicates of a message it already had.
        self.published_total = 0
        self.duplicates_total = 0
        self.rounds_total = 0
        self._attributes = {"stream": config.stream_name}
        meter = telemetry.meter
        self._published = meter.create_counter(
            "stockroom.events.published",
            unit="{event}",
            description="Events acknowledged by JetStream (duplicates included)",
        )
        self._duplicates = meter.create_counter(
            "stockroom.events.duplicates",
            unit="{event}",
            description="Publications JetStream dropped as duplicates (a republish after a crash)",
        )
        meter.create_observable_gauge(
            "stockroom.events.broker_unreachable",
            [self._observe_outage],
            description="1 while the relay cannot reach the event broker (events wait)",
        )

    async def __aenter__(self) -> Relay:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start publishing in the background; returns at once (even with the broker down)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._unwatch = watch_commits(self._engine, self.wake)
        self._task = asyncio.create_task(self._run(), name=f"events-relay-{self._outbox.name}")

    def wake(self) -> None:
        """Publish soon: rows were committed. Safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        """Finish the round in progress (bounded by the publish timeout), then disconnect."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        task, self._task = self._task, None
        if task is not None:
            self._stopping.set()
            self._wake.set()
            done, _ = await asyncio.wait({task}, timeout=self._config.publish_timeout_s + 1.0)
            if not done:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._disconnect()

    async def publish_pending(self) -> int:
        """One round: publish up to ``batch_size`` pending rows; how many were acknowledged.

        Raises a broker error after marking what was acknowledged before it.
        """
        self.rounds_total += 1
        if self._engine.dialect.name == "postgresql":
            acked, failure = await self._round_with_lock()
        else:
            acked, failure = await self._round_alone()
        self.published_total += len(acked)
        if acked:
            self._published.add(len(acked), self._attributes)
        if failure is not None:
            raise failure
        return len(acked)

    async def _round_with_lock(self) -> tuple[list[int], BaseException | None]:
        """PostgreSQL: read, publish and mark in one transaction holding the relays' lock,
        so replicas take turns and events leave in position order."""
        acked: list[int] = []
        async with self._engine.connect() as connection, connection.begin():
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._lock_key}
            )
            rows = (await connection.execute(self._select)).all()
            if not rows:
                return acked, None
            failure = await self._publish(await self._connected(), rows, acked)
            await self._mark(connection, acked)
        return acked, failure

    async def _round_alone(self) -> tuple[list[int], BaseException | None]:
        """SQLite (one process, one relay): read, publish, then mark in a transaction of
        its own. A read transaction kept open across the publication could not become
        a write transaction once a writer had committed meanwhile (SQLITE_BUSY_SNAPSHOT)."""
        acked: list[int] = []
        async with self._engine.connect() as connection:
            rows = (await connection.execute(self._select)).all()
        if not rows:
            return acked, None
        failure = await self._publish(await self._connected(), rows, acked)
        async with self._engine.begin() as connection:
            await self._mark(connection, acked)
        return acked, failure

    async def _mark(self, connection: AsyncConnection, positions: list[int]) -> None:
        if positions:
            await connection.execute(
                update(self._outbox)
                .where(self._outbox.c.position.in_(positions))
                .values(publish_time=self._clock().astimezone(UTC))
            )

    async def pending(self) -> int:
        """How many rows wait for publication (tests, gauges)."""
        async with self._engine.connect() as connection:
            count = await connection.scalar(
                select(func.count()).where(self._outbox.c.publish_time.is_(None))
            )
        return int(count or 0)

    async def _publish(
        self, js: JetStreamContext, rows: Sequence[Any], acked: list[int]
    ) -> BaseException | None:
        """Publish ``rows``: per subject in order, subjects concurrently. Returns the first failure.

        A subject stops at its first failure, so nothing after an unacknowledged
        event of that subject is published before it.
        """
        by_subject: dict[str, list[Any]] = {}
        for row in rows:
            by_subject.setdefault(row.subject, []).append(row)
        source, stream = self._config.source, self._config.stream_name
        timeout = self._config.publish_timeout_s

        async def publish_subject(subject_rows: list[Any]) -> None:
            for row in subject_rows:
                body = envelope(row, source).SerializeToString(deterministic=True)
                ack = await js.publish(
                    row.subject,
                    body,
                    timeout=timeout,
                    stream=stream,
                    headers={"Nats-Msg-Id": message_id(row)},
                )
                acked.append(row.position)
                if ack.duplicate:
                    self.duplicates_total += 1
                    self._duplicates.add(1, self._attributes)

        results = await asyncio.gather(
            *(publish_subject(subject_rows) for subject_rows in by_subject.values()),
            return_exceptions=True,
        )
        return next((r for r in results if isinstance(r, BaseException)), None)

    def _observe_outage(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1 if self.broker.active else 0, self._attributes)]

    async def _connected(self) -> JetStreamContext:
        """The JetStream context, connecting (and ensuring the stream) when there is none."""
        if self._client is not None and self._client.is_connected and self._js is not None:
            return self._js
        await self._disconnect()

        async def quiet(error: Exception) -> None:  # failures surface through publish
            logger.debug("event broker connection error", extra={"error": str(error)})

        client = await nats.connect(
            servers=self._config.servers,
            name=f"stockroom-{self._config.service}-events",
            connect_timeout=math.ceil(self._config.connect_timeout_s),
            allow_reconnect=False,  # the relay reconnects itself, with its own backoff
            max_reconnect_attempts=0,
            error_cb=quiet,
        )
        try:
            js = client.jetstream(timeout=self._config.publish_timeout_s)
            await ensure_stream(js, self._config)
        except BaseException:
            await client.close()
            raise
        self._client, self._js = client, js
        return js

    async def _disconnect(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            try:
                await asyncio.wait_for(client.close(), self._config.connect_timeout_s)
            except BROKER_ERRORS:
                logger.debug("event broker connection closed uncleanly")

    async def _run(self) -> None:
        pause = self._config.retry_initial_s
        try:
            await self._connected()  # creates the stream at startup when the broker is up
            self.broker.recovered()
        except BROKER_ERRORS as error:
            self.broker.failed(error)
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                published = await self.publish_pending()
            except BROKER_ERRORS as error:
                self.broker.failed(error)
                await self._disconnect()
                await self._pause(pause)
                pause = min(pause * 2, self._config.retry_max_s)
                continue
            except SQLAlchemyError as error:
                self.database.failed(error)
                await self._pause(pause)
                pause = min(pause * 2, self._config.retry_max_s)
                continue
            except Exception:
                logger.exception("event relay round failed; retrying")
                await self._pause(self._config.retry_max_s)
                continue
            pause = self._config.retry_initial_s
            self.database.recovered()
            if published:
                self.broker.recovered()
            if published < self._config.batch_size:
                await self._idle()

    async def _idle(self) -> None:
        """Sleep until a commit wakes the relay, it stops, or the poll interval passes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._config.poll_interval_s)

    async def _pause(self, seconds: float) -> None:
        """Back off before retrying (jittered), unless the relay is told to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds * random.uniform(0.5, 1.0))
