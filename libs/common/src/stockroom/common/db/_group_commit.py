"""Group commit: concurrent calls of one process gathered into batches, one flush each.

A call hands its item to ``GroupCommit.submit`` and waits for its own
outcome. When no batch is in flight the item is flushed at once (no
waiting when the process is idle). Items that arrive while a batch is in
flight gather for the next one; it starts when a batch slot is free, and
when ``max_in_flight`` > 1 only after ``window_s`` (or as soon as
``max_batch`` items wait), so a second batch does not start with one item.
Given ``company`` (how many calls the process is serving: the server's
unary calls in flight, ``GrpcServer.shedder.in_flight``), a batch starts to
gather only while some of those calls are not in the batcher yet, as
PostgreSQL's ``commit_delay`` waits only with ``commit_siblings``
transactions active: a loaded process fills fewer, larger batches (less CPU
per call), and one whose every call is already here (a few clients, each
waiting for its answer) never waits for callers that cannot come. Once every
call it counts is here, a gathering batch waits for the next arrival only
``quiet_s``: the count cannot see calls still queued in gRPC's core (a
saturated server accepts one call per turn of its loop), which keep arriving
within it under load, while a few clients that are all here stop waiting
for the rest of the window.
``flush`` gets the items in arrival order and returns one outcome per item:
a value, or an exception for that item alone. If ``flush`` itself raises,
every item of the batch gets that error (the batch could not be applied).

With metrics exported, each batch records its size (``stockroom.batch.size``)
and how long its flush took (``stockroom.batch.duration``, by outcome), under
the batcher's ``name``: per batch, not per call, so it costs nothing a call
would notice, and it tells an operator whether batching works (sizes of 1
under load mean every call pays a whole transaction).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from opentelemetry.util.types import AttributeValue

from stockroom.common.telemetry import _names as names
from stockroom.common.telemetry._providers import GLOBAL_TELEMETRY, Telemetry

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


@dataclass(frozen=True)
class BatchSettings:
    """How batches form (inventory's writes: ``INVENTORY_BATCH_WINDOW_MS``,
    ``INVENTORY_BATCH_MAX``, ``INVENTORY_BATCHES_IN_FLIGHT``)."""

    window_s: float = 0.002
    max_batch: int = 256
    max_in_flight: int = 1
    # Once ``company`` says every call is here: how long to wait for one more arrival.
    quiet_s: float = 0.002


DEFAULT_BATCHES = BatchSettings()


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        flush: Flush[T, R],
        settings: BatchSettings = DEFAULT_BATCHES,
        company: Callable[[], int] | None = None,
        *,
        name: str = "batch",
        telemetry: Telemetry = GLOBAL_TELEMETRY,
    ) -> None:
        """``name`` tells this batcher's metrics from the others' (``inventory.writes``)."""
        self._flush = flush
        self._settings = settings
        self._company = company
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._in_flight = 0
        self._in_flight_items = 0
        self._leader: asyncio.Task[None] | None = None
        # While the leader gathers: resolved True by the next arrival (False by a timer).
        self._arrival: asyncio.Future[bool] | None = None
        self._slot_free = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # flushed so far (for tests and metrics)
        self._metrics = _BatchMetrics(name, telemetry) if telemetry.metrics_recorded else None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        _resolve(self._arrival, True)
        if self._leader is None or self._leader.done():
            self._leader = asyncio.create_task(self._lead(), name="group-commit-leader")
        return await future

    async def _lead(self) -> None:
        """Start batches while items wait; end when none do."""
        settings = self._settings
        while self._waiting:
            while self._in_flight >= settings.max_in_flight:
                self._slot_free.clear()
                await self._slot_free.wait()
            if self._in_flight and len(self._waiting) < settings.max_batch and self._may_grow():
                await self._gather(settings.window_s)
            batch = self._waiting[: settings.max_batch]
            del self._waiting[: settings.max_batch]
            self._in_flight += 1
            self._in_flight_items += len(batch)
            self.batches += 1
            task = asyncio.create_task(self._run(batch), name="group-commit-batch")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            # Let the batch start (and new items arrive) before looking again.
            await asyncio.sleep(0)

    def _may_grow(self) -> bool:
        """Whether calls that may still join are elsewhere in the process (``company``)."""
        if self._company is None:
            return True
        return self._company() > len(self._waiting) + self._in_flight_items

    async def _gather(self, window_s: float) -> None:
        """Wait up to ``window_s`` for more items, or until a batch is full, or until
        ``quiet_s`` passes without an arrival once ``company`` sees nobody else coming."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window_s
        while len(self._waiting) < self._settings.max_batch:
            remaining = deadline - loop.time()
            if not self._may_grow():
                remaining = min(remaining, self._settings.quiet_s)
            if remaining <= 0 or not await self._next_arrival(remaining):
                return

    async def _next_arrival(self, timeout_s: float) -> bool:
        """Whether an item arrives within ``timeout_s`` (one future and one timer, not a
        task per wait: this runs for every arrival while a batch gathers)."""
        loop = asyncio.get_running_loop()
        arrival: asyncio.Future[bool] = loop.create_future()
        self._arrival = arrival
        timer = loop.call_later(timeout_s, _resolve, arrival, False)
        try:
            return await arrival
        finally:
            timer.cancel()
            self._arrival = None

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        started = time.perf_counter()
        ok = False
        try:
            outcomes: Sequence[R | BaseException] = await self._flush([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for a batch of {len(batch)}")
            ok = True
        except BaseException as error:  # every caller must hear back, even on cancellation
            if not isinstance(error, Exception):
                logger.warning("a batch was interrupted: %r", error)
            outcomes = [error] * len(batch)
            if not isinstance(error, Exception):
                self._settle(batch, outcomes)
                raise
        finally:
            self._in_flight -= 1
            self._in_flight_items -= len(batch)
            self._slot_free.set()
            if self._metrics is not None:
                self._metrics.record(len(batch), started, ok=ok)
        self._settle(batch, outcomes)

    @staticmethod
    def _settle(
        batch: list[tuple[T, asyncio.Future[R]]], outcomes: Sequence[R | BaseException]
    ) -> None:
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the caller went away (cancelled); its write may still apply
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


class _BatchMetrics:
    """One batcher's size and duration histograms, with its attribute sets made once."""

    def __init__(self, name: str, telemetry: Telemetry) -> None:
        self._size = telemetry.batch_size
        self._duration = telemetry.batch_duration
        self._named: dict[str, AttributeValue] = {names.BATCH_NAME: name}
        self._ok: dict[str, AttributeValue] = {**self._named, names.BATCH_OUTCOME: "ok"}
        self._failed: dict[str, AttributeValue] = {**self._named, names.BATCH_OUTCOME: "failed"}

    def record(self, size: int, started: float, *, ok: bool) -> None:
        self._size.record(size, self._named)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._duration.record(elapsed_ms, self._ok if ok else self._failed)


def _resolve(future: asyncio.Future[bool] | None, value: bool) -> None:
    if future is not None and not future.done():
        future.set_result(value)
