"""Quotes made at the same time share calls to inventory: alone when nothing is on its way,
gathered into one BatchCheckAvailability while calls are, each quote with its own answer
or its own error. A stub stands in for inventory; the test decides when each call ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from stockroom.common.client import deadline_scope, time_remaining_s
from stockroom.common.errors import FieldViolation, InvalidArgument, StockroomError, Unavailable
from stockroom.common.telemetry import Telemetry
from stockroom.inventory.v1 import inventory_pb2 as inv
from stockroom.pricing.availability_calls import (
    BATCH_SIZE_ATTRIBUTE,
    BATCH_SPAN,
    CALLS_METRIC,
    CHECKS_METRIC,
    AvailabilityCalls,
)


def unimplemented() -> StockroomError:
    error = StockroomError("Method not found!", reason="UNIMPLEMENTED")
    error.code = "UNIMPLEMENTED"
    return error


class HeldInventory:
    """Answers each line with available = quantity * 10 (``sku`` BAD: INVALID_ARGUMENT),
    once the test opens the gate; ``batch_error`` fails every BatchCheckAvailability."""

    def __init__(self, batch_error: Callable[[], StockroomError] | None = None) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.batch_error = batch_error
        self.alone: list[list[str]] = []  # the SKUs of each CheckAvailability call
        self.gathered: list[list[list[str]]] = []  # of each BatchCheckAvailability call
        self.remaining_s: list[float | None] = []  # the deadline each call was made with

    @staticmethod
    def answer(request: inv.CheckAvailabilityRequest) -> inv.CheckAvailabilityResponse:
        if any(line.sku == "BAD" for line in request.lines):
            raise InvalidArgument(
                "bad sku", field_violations=[FieldViolation("lines[0].sku", "bad", "BAD")]
            )
        return inv.CheckAvailabilityResponse(
            lines=[
                inv.LineAvailability(
                    sku=line.sku, requested=line.quantity, available=line.quantity * 10
                )
                for line in request.lines
            ]
        )

    async def CheckAvailability(
        self, request: inv.CheckAvailabilityRequest
    ) -> inv.CheckAvailabilityResponse:
        self.alone.append([line.sku for line in request.lines])
        self.remaining_s.append(time_remaining_s())
        await self.gate.wait()
        return self.answer(request)

    async def BatchCheckAvailability(
        self, request: inv.BatchCheckAvailabilityRequest
    ) -> inv.BatchCheckAvailabilityResponse:
        self.gathered.append([[line.sku for line in r.lines] for r in request.requests])
        self.remaining_s.append(time_remaining_s())
        await self.gate.wait()
        if self.batch_error is not None:
            raise self.batch_error()
        for each in request.requests:  # all or nothing, as inventory validates
            self.answer(each)
        return inv.BatchCheckAvailabilityResponse(
            responses=[self.answer(each) for each in request.requests]
        )


def cart(*skus: str) -> inv.CheckAvailabilityRequest:
    return inv.CheckAvailabilityRequest(
        lines=[inv.AvailabilityLine(sku=sku, quantity=1) for sku in skus]
    )


def calls_for(inventory: HeldInventory, **settings: int) -> AvailabilityCalls:
    return AvailabilityCalls(inventory, **settings)  # type: ignore[arg-type]


async def settled() -> None:
    """Let every ready task run until each waits for the gate or is done."""
    for _ in range(20):
        await asyncio.sleep(0)


async def one_on_its_way(calls: AvailabilityCalls) -> asyncio.Task[inv.CheckAvailabilityResponse]:
    """Check cart A and let its call go out (the test's gate holds it there)."""
    first = asyncio.create_task(calls.check(cart("A")))
    await settled()
    return first


async def checking(
    calls: AvailabilityCalls, *skus: str
) -> list[asyncio.Task[inv.CheckAvailabilityResponse]]:
    """Check a one-line cart of each SKU, and let each reach the point where it waits."""
    tasks = [asyncio.create_task(calls.check(cart(sku))) for sku in skus]
    await settled()
    return tasks


async def test_a_check_alone_is_one_check_availability_call() -> None:
    inventory = HeldInventory()
    calls = calls_for(inventory)

    answer = await calls.check(cart("MUG"))

    assert [line.available for line in answer.lines] == [10]
    assert inventory.alone == [["MUG"]]
    assert inventory.gathered == []


async def test_checks_that_come_while_a_call_is_on_its_way_go_together_in_order() -> None:
    inventory = HeldInventory()
    inventory.gate.clear()
    calls = calls_for(inventory, max_in_flight=1)
    first = await one_on_its_way(calls)
    rest = [asyncio.create_task(calls.check(cart(sku, "MUG"))) for sku in ("B", "C", "D")]
    await settled()
    assert inventory.alone == [["A"]]  # the others wait for the call on its way
    assert inventory.gathered == []

    inventory.gate.set()
    answers = await asyncio.gather(first, *rest)

    assert inventory.gathered == [[["B", "MUG"], ["C", "MUG"], ["D", "MUG"]]]
    assert [[line.sku for line in a.lines] for a in answers] == [
        ["A"],
        ["B", "MUG"],
        ["C", "MUG"],
        ["D", "MUG"],
    ]
    assert (calls.calls_alone, calls.calls_gathered) == (1, 1)


async def test_a_lone_waiting_check_calls_alone_from_its_own_task() -> None:
    inventory = HeldInventory()
    inventory.gate.clear()
    calls = calls_for(inventory, max_in_flight=1)
    first = await one_on_its_way(calls)
    second = asyncio.create_task(calls.check(cart("B")))
    await settled()

    inventory.gate.set()
    await asyncio.gather(first, second)

    assert inventory.alone == [["A"], ["B"]]
    assert inventory.gathered == []


async def test_a_call_takes_at_most_max_checks_and_max_lines() -> None:
    inventory = HeldInventory()
    inventory.gate.clear()
    calls = calls_for(inventory, max_in_flight=1, max_checks=2, max_lines=3)
    first = await one_on_its_way(calls)
    waiting = [
        asyncio.create_task(calls.check(cart(*skus)))
        for skus in (["B"], ["C"], ["D", "E"], ["F", "G"], ["H"])
    ]
    await settled()

    inventory.gate.set()
    await asyncio.gather(first, *waiting)

    # Two checks at most, three lines at most, oldest first: D+E alone (F+G would make
    # four lines), so it calls from its own task.
    assert inventory.gathered == [[["B"], ["C"]], [["F", "G"], ["H"]]]
    assert inventory.alone == [["A"], ["D", "E"]]


async def test_a_check_whose_caller_stopped_waiting_is_not_sent() -> None:
    inventory = HeldInventory()
    inventory.gate.clear()
    calls = calls_for(inventory, max_in_flight=1)
    first = await one_on_its_way(calls)
    gone = asyncio.create_task(calls.check(cart("GONE")))
    kept = await checking(calls, "B", "C")
    gone.cancel()

    inventory.gate.set()
    answers = await asyncio.gather(first, *kept)

    assert inventory.gathered == [[["B"], ["C"]]]
    assert [a.lines[0].sku for a in answers] == ["A", "B", "C"]
    assert gone.cancelled()
    await settled()
    assert calls._in_flight == 0  # every slot given back


async def test_the_gathered_call_has_the_latest_deadline_of_its_checks() -> None:
    inventory = HeldInventory()
    inventory.gate.clear()
    calls = calls_for(inventory, max_in_flight=1)

    async def check_within(timeout_s: float, sku: str) -> inv.CheckAvailabilityResponse:
        with deadline_scope(timeout_s):
            return await calls.check(cart(sku))

    first = asyncio.create_task(check_within(600, "A"))
    await settled()
    soon = asyncio.create_task(check_within(60, "B"))
    late = asyncio.create_task(check_within(3600, "C"))
    await settled()

    inventory.gate.set()
    await asyncio.gather(first, soon, late)

    gathered_remaining = inventory.remaining_s[1]
    assert gathered_remaining is not None
    assert 600 < gathered_remaining <= 3600


async def test_a_refused_batch_asks_each_alone_so_only_the_bad_cart_fails() -> None:
    inventory = HeldInventory()
    inventory.gate.clear()
    calls = calls_for(inventory, max_in_flight=1)
    first = await one_on_its_way(calls)
    good = asyncio.create_task(calls.check(cart("B")))
    bad = asyncio.create_task(calls.check(cart("BAD")))
    await settled()

    inventory.gate.set()
    await first

    assert (await good).lines[0].available == 10
    with pytest.raises(InvalidArgument) as refused:
        await bad
    assert refused.value.field_violations[0].field == "lines[0].sku"
    assert inventory.gathered == [[["B"], ["BAD"]]]
    assert inventory.alone[1:] == [["B"], ["BAD"]]


async def test_an_inventory_without_batches_is_asked_alone_from_then_on() -> None:
    inventory = HeldInventory(batch_error=unimplemented)
    inventory.gate.clear()
    calls = calls_for(inventory, max_in_flight=1)
    first = await one_on_its_way(calls)
    waiting = await checking(calls, "B", "C")
    inventory.gate.set()
    await asyncio.gather(first, *waiting)
    assert not calls.gathered

    inventory.gate.clear()
    again = asyncio.create_task(calls.check(cart("D")))
    await settled()
    later = await checking(calls, "E", "F")
    inventory.gate.set()
    answers = await asyncio.gather(again, *later)

    assert [a.lines[0].sku for a in answers] == ["D", "E", "F"]
    assert len(inventory.gathered) == 1  # the one that found out
    assert sorted(inventory.alone) == [["A"], ["B"], ["C"], ["D"], ["E"], ["F"]]


async def test_a_failed_batch_fails_each_check_with_its_error() -> None:
    inventory = HeldInventory(batch_error=lambda: Unavailable("inventory is down"))
    inventory.gate.clear()
    calls = calls_for(inventory, max_in_flight=1)
    first = await one_on_its_way(calls)
    waiting = await checking(calls, "B", "C")

    inventory.gate.set()
    await first
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)

    assert [type(o) for o in outcomes] == [Unavailable, Unavailable]
    assert calls._in_flight == 0


async def test_the_gathered_call_is_a_trace_of_its_own_linking_the_quotes_it_served() -> None:
    exporter = InMemorySpanExporter()
    recording = TracerProvider()
    recording.add_span_processor(SimpleSpanProcessor(exporter))
    # The quotes' traces are not sampled (as 90 % of them are at a 10 % ratio).
    unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("quotes")
    inventory = HeldInventory()
    inventory.gate.clear()
    calls = AvailabilityCalls(
        inventory,  # type: ignore[arg-type]
        max_in_flight=1,
        telemetry=Telemetry(tracer_provider=recording),
    )

    async def quote(name: str) -> trace.SpanContext:
        with unsampled.start_as_current_span(name) as span:
            await calls.check(cart(name))
            return span.get_span_context()

    first = asyncio.create_task(quote("A"))
    await settled()
    waiting = [asyncio.create_task(quote(name)) for name in ("B", "C")]
    await settled()
    inventory.gate.set()
    _, b, c = await asyncio.gather(first, *waiting)

    assert inventory.gathered == [[["B"], ["C"]]]
    (batch,) = [s for s in exporter.get_finished_spans() if s.name == BATCH_SPAN]
    assert batch.parent is None
    assert batch.context.trace_id not in {b.trace_id, c.trace_id}
    assert [link.context.span_id for link in batch.links] == [b.span_id, c.span_id]
    assert batch.attributes is not None
    assert batch.attributes[BATCH_SIZE_ATTRIBUTE] == 2


async def test_a_quote_whose_trace_is_recorded_asks_alone_so_its_trace_is_whole() -> None:
    sampled = TracerProvider().get_tracer("quotes")
    inventory = HeldInventory()
    inventory.gate.clear()
    calls = calls_for(inventory, max_in_flight=1)
    first = await one_on_its_way(calls)

    async def recorded_quote() -> inv.CheckAvailabilityResponse:
        with sampled.start_as_current_span("quote"):
            return await calls.check(cart("TRACED"))

    traced = asyncio.create_task(recorded_quote())
    plain = asyncio.create_task(calls.check(cart("PLAIN")))
    await settled()
    assert inventory.alone == [["A"], ["TRACED"]]  # it did not wait for A's call

    inventory.gate.set()
    await asyncio.gather(first, traced, plain)
    assert inventory.alone == [["A"], ["TRACED"], ["PLAIN"]]
    assert inventory.gathered == []
    assert calls._in_flight == 0


async def test_a_cancelled_gathered_call_fails_its_checks_as_unavailable() -> None:
    """When the gathered call's task is cancelled (the server stopping), the quotes
    waiting on it are not: each gets UNAVAILABLE, which it answers as unknown."""
    inventory = HeldInventory()
    inventory.gate.clear()
    calls = calls_for(inventory, max_in_flight=1)
    first = await one_on_its_way(calls)
    waiting = await checking(calls, "B", "C")
    first.cancel()  # frees the slot: B and C go together
    await settled()
    assert inventory.gathered == [[["B"], ["C"]]]

    for task in list(calls._tasks):
        task.cancel()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)

    assert [type(o) for o in outcomes] == [Unavailable, Unavailable]
    assert calls._in_flight == 0


async def test_operators_see_how_many_checks_went_alone_and_gathered() -> None:
    reader = InMemoryMetricReader()
    inventory = HeldInventory()
    inventory.gate.clear()
    calls = AvailabilityCalls(
        inventory,  # type: ignore[arg-type]
        max_in_flight=1,
        telemetry=Telemetry(meter_provider=MeterProvider(metric_readers=[reader])),
    )
    first = await one_on_its_way(calls)
    waiting = await checking(calls, "B", "C", "D")
    inventory.gate.set()
    await asyncio.gather(first, *waiting)

    def counted(metric: str) -> dict[str, float]:
        data = reader.get_metrics_data()
        assert data is not None
        return {
            str(point.attributes["mode"]): point.value
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == metric
            for point in m.data.data_points
            if isinstance(point, NumberDataPoint) and point.attributes is not None
        }

    assert counted(CALLS_METRIC) == {"alone": 1, "gathered": 1}
    assert counted(CHECKS_METRIC) == {"alone": 1, "gathered": 3}
