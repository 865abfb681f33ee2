"""When the group commit (``stockroom.common.db.GroupCommit``) waits for company, and when not.

No test here waits for a clock: windows are an hour long, and a batch that
should start is expected to have started within a few turns of the event
loop; what starts one is its first item, a free slot, a full batch, or nobody
else being on the way (with a quiet time of zero, or of an hour).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from opentelemetry.sdk.metrics.export import HistogramDataPoint

from stockroom.common.db import BatchSettings, GroupCommit
from stockroom.common.telemetry import GLOBAL_TELEMETRY
from stockroom.common.telemetry import _names as names

from .conftest import SpanRecorder

HOUR = 3600.0


class Flushes:
    """Records each batch; the first one waits for ``release`` (a batch in flight)."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()

    async def flush(self, items: Sequence[str]) -> list[str | BaseException]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            await self.release.wait()
        return [f"done {item}" for item in items]


async def turns(count: int = 50) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def two_in_flight(max_batch: int = 100) -> BatchSettings:
    return BatchSettings(window_s=HOUR, max_batch=max_batch, max_in_flight=2)


async def test_an_idle_process_flushes_the_first_item_at_once() -> None:
    flushes = Flushes()
    flushes.release.set()
    batcher: GroupCommit[str, str] = GroupCommit(flushes.flush, two_in_flight())
    first = asyncio.create_task(batcher.submit("a"))
    await turns()
    assert first.done()
    assert first.result() == "done a"
    assert flushes.batches == [["a"]]


async def test_without_a_count_of_calls_a_second_batch_gathers_until_it_is_full() -> None:
    flushes = Flushes()
    batcher: GroupCommit[str, str] = GroupCommit(flushes.flush, two_in_flight(max_batch=3))
    first = asyncio.create_task(batcher.submit("a"))
    await turns()
    later = [asyncio.create_task(batcher.submit(item)) for item in ("b", "c")]
    await turns()
    assert flushes.batches == [["a"]]  # b and c wait for company (the window is an hour)
    later.append(asyncio.create_task(batcher.submit("d")))
    assert await asyncio.gather(*later) == ["done b", "done c", "done d"]
    assert flushes.batches == [["a"], ["b", "c", "d"]]
    flushes.release.set()
    assert await first == "done a"


async def test_a_batch_does_not_wait_when_every_call_of_the_process_is_already_here() -> None:
    flushes = Flushes()
    calls = 2  # two clients, each waiting for its answer: nobody else can come
    batcher: GroupCommit[str, str] = GroupCommit(flushes.flush, two_in_flight(), lambda: calls)
    first = asyncio.create_task(batcher.submit("a"))
    await turns()
    second = asyncio.create_task(batcher.submit("b"))
    await turns()
    assert second.done()  # at once, though "a" is still in flight
    assert second.result() == "done b"
    assert flushes.batches == [["a"], ["b"]]
    flushes.release.set()
    assert await first == "done a"


async def test_a_batch_waits_while_some_call_of_the_process_is_not_here_yet() -> None:
    flushes = Flushes()
    calls = 3  # a, b, and one still on its way to the batcher
    batcher: GroupCommit[str, str] = GroupCommit(
        flushes.flush, two_in_flight(max_batch=2), lambda: calls
    )
    first = asyncio.create_task(batcher.submit("a"))
    await turns()
    second = asyncio.create_task(batcher.submit("b"))
    await turns()
    assert flushes.batches == [["a"]]  # b waits for the third call
    assert list(await asyncio.gather(second, batcher.submit("c"))) == ["done b", "done c"]
    assert flushes.batches == [["a"], ["b", "c"]]
    flushes.release.set()
    assert await first == "done a"


async def test_a_gathering_batch_starts_once_the_last_call_on_its_way_has_come() -> None:
    flushes = Flushes()
    calls = 3  # a, b, and c still on its way: b gathers; when c comes, nobody else can
    settings = dataclasses.replace(two_in_flight(), quiet_s=0.0)
    batcher: GroupCommit[str, str] = GroupCommit(flushes.flush, settings, lambda: calls)
    first = asyncio.create_task(batcher.submit("a"))
    await turns()
    later = [asyncio.create_task(batcher.submit("b"))]
    await turns()
    assert flushes.batches == [["a"]]  # b waits for c
    later.append(asyncio.create_task(batcher.submit("c")))
    await turns()
    assert all(call.done() for call in later)  # not the rest of the hour
    assert flushes.batches == [["a"], ["b", "c"]]
    flushes.release.set()
    assert await first == "done a"


async def test_a_call_the_count_missed_still_joins_within_the_quiet_time() -> None:
    flushes = Flushes()
    calls = 3  # the count sees a, b and c; d was still queued in gRPC's core
    settings = dataclasses.replace(two_in_flight(max_batch=3), quiet_s=HOUR)
    batcher: GroupCommit[str, str] = GroupCommit(flushes.flush, settings, lambda: calls)
    first = asyncio.create_task(batcher.submit("a"))
    await turns()
    later = [asyncio.create_task(batcher.submit("b"))]
    await turns()  # b gathers: c is on its way
    later.append(asyncio.create_task(batcher.submit("c")))
    await turns()
    assert flushes.batches == [["a"]]  # every counted call is here: b and c wait quietly
    later.append(asyncio.create_task(batcher.submit("d")))
    assert await asyncio.gather(*later) == ["done b", "done c", "done d"]
    assert flushes.batches == [["a"], ["b", "c", "d"]]
    flushes.release.set()
    assert await first == "done a"


def histograms(recorder: SpanRecorder, metric: str) -> dict[tuple[str, ...], HistogramDataPoint]:
    """``metric``'s points by their attribute values (name, and outcome for durations)."""
    return {
        tuple(str(v) for v in dict(p.attributes or {}).values()): p
        for p in recorder.points(metric)
        if isinstance(p, HistogramDataPoint)
    }


async def test_operators_see_each_batch_size_and_flush_time_by_name_and_outcome(
    span_recorder: SpanRecorder,
) -> None:
    flushes = Flushes()
    batcher: GroupCommit[str, str] = GroupCommit(
        flushes.flush, two_in_flight(max_batch=3), name="orders", telemetry=span_recorder.telemetry
    )
    first = asyncio.create_task(batcher.submit("a"))
    await turns()
    assert await asyncio.gather(*(batcher.submit(item) for item in "bcd")) == [
        "done b",
        "done c",
        "done d",
    ]
    flushes.release.set()
    await first

    async def broken(items: Sequence[str]) -> list[str | BaseException]:
        raise ConnectionError("the database went away")

    failing: GroupCommit[str, str] = GroupCommit(
        broken, name="orders", telemetry=span_recorder.telemetry
    )
    results = await asyncio.gather(failing.submit("e"), return_exceptions=True)
    assert isinstance(results[0], ConnectionError)

    sizes = histograms(span_recorder, names.BATCH_SIZE)
    assert list(sizes) == [("orders",)]
    (size,) = sizes.values()
    # a, then b+c+d together, then e: three batches of five items, the largest three.
    assert (size.count, size.sum, size.min, size.max) == (3, 5, 1, 3)
    assert size.explicit_bounds[:4] == (1, 2, 4, 8)  # sizes, not the default millisecond buckets
    durations = histograms(span_recorder, names.BATCH_DURATION)
    assert sorted(durations) == [("orders", "failed"), ("orders", "ok")]
    assert durations[("orders", "ok")].count == 2
    assert durations[("orders", "failed")].count == 1
    assert durations[("orders", "ok")].min >= 0


async def test_nothing_is_recorded_per_batch_when_no_metrics_are_exported() -> None:
    assert not GLOBAL_TELEMETRY.metrics_recorded  # the tests install no global meter provider
    flushes = Flushes()
    flushes.release.set()
    batcher: GroupCommit[str, str] = GroupCommit(flushes.flush, name="orders")
    assert batcher._metrics is None
    assert await batcher.submit("a") == "done a"
