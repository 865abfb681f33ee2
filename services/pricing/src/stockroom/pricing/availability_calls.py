"""The checks of quotes made at the same time, gathered into one call to inventory.

Every quote asks inventory about its cart. Alone, a check is one
CheckAvailability call, made from the quote's own task: its deadline, its
trace, its cancellation. While ``max_in_flight`` calls are already on their
way, the checks that arrive wait, and when a call returns the waiting ones go
together as one BatchCheckAvailability (inventory answers each as if it were
sent alone, from one read): under load, one call and one read serve many
quotes, and neither service pays a call's fixed cost per quote. An idle
process never waits.

A gathered call:

- has the latest deadline of its checks; a check whose own deadline comes
  first stops waiting then (its caller's ``asyncio.timeout``), the others
  still get their answer;
- gathers only quotes whose traces are not recorded: a sampled quote asks
  alone, so its trace stays whole (pricing's span, the call, inventory's
  span and its SQL). The gathered call is a trace of its own, sampled as a
  root is: its span ``pricing.availability.batch`` links to the span of
  every quote it served (OpenTelemetry's way for a batch that serves many
  traces);
- fails each check with its error (UNAVAILABLE, an open breaker, a
  deadline), as the checks' own calls would have failed. When inventory
  refuses the batch (INVALID_ARGUMENT: one cart has something inventory
  refuses) each check is asked alone, so only the offending quote hears of
  it; an inventory without BatchCheckAvailability (UNIMPLEMENTED, in a
  rolling upgrade) makes this process ask alone from then on.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from dataclasses import dataclass, field
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace

from stockroom.common.client import deadline_scope, time_remaining_s
from stockroom.common.contract import MAX_AVAILABILITY_CHECKS, MAX_BATCH_AVAILABILITY_LINES
from stockroom.common.errors import Internal, InvalidArgument, StockroomError, Unavailable
from stockroom.common.telemetry import GLOBAL_TELEMETRY, Telemetry
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc

BATCH_SPAN = "pricing.availability.batch"
BATCH_SIZE_ATTRIBUTE = "stockroom.availability.checks"
# Counters, by ``mode``: alone (CheckAvailability) or gathered (BatchCheckAvailability).
CALLS_METRIC = "stockroom.pricing.availability.calls"
CHECKS_METRIC = "stockroom.pricing.availability.checks"
_ALONE: Final = {"mode": "alone"}
_GATHERED: Final = {"mode": "gathered"}


class _AskAlone:
    """A waiting check's turn to call CheckAvailability itself (``slot``: with a slot of
    ``max_in_flight`` taken for it)."""

    def __init__(self, slot: bool) -> None:
        self.slot = slot


_YOUR_TURN: Final = _AskAlone(slot=True)
_ASK_ALONE: Final = _AskAlone(slot=False)

_Answer = inventory_pb2.CheckAvailabilityResponse | _AskAlone


@dataclass
class _Waiting:
    request: inventory_pb2.CheckAvailabilityRequest
    future: asyncio.Future[_Answer]
    # time.monotonic() when the check's caller stops waiting (None: no deadline).
    deadline_at: float | None
    # The quote's OpenTelemetry context: the gathered call's span links to its span.
    trace_context: otel_context.Context = field(repr=False)


class AvailabilityCalls:
    """CheckAvailability for many concurrent quotes, in as few calls as keep them fast."""

    def __init__(
        self,
        stub: inventory_pb2_grpc.InventoryServiceAsyncStub,
        *,
        max_in_flight: int = 2,
        max_checks: int = MAX_AVAILABILITY_CHECKS,
        max_lines: int = MAX_BATCH_AVAILABILITY_LINES,
        telemetry: Telemetry = GLOBAL_TELEMETRY,
    ) -> None:
        if max_in_flight < 1 or max_checks < 1:
            raise ValueError("max_in_flight and max_checks must be at least 1")
        self._stub = stub
        self._max_in_flight = max_in_flight
        self._max_checks = max_checks
        self._max_lines = max_lines
        self._telemetry = telemetry
        self._calls = telemetry.meter.create_counter(
            CALLS_METRIC,
            unit="{call}",
            description="Calls to inventory for availability, alone or gathered (mode)",
        )
        self._checks = telemetry.meter.create_counter(
            CHECKS_METRIC,
            unit="{check}",
            description="Quotes' availability checks sent to inventory, alone or gathered",
        )
        self._waiting: list[_Waiting] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.gathered = True  # False once inventory said it has no BatchCheckAvailability
        self.calls_alone = 0  # CheckAvailability calls made (for tests and metrics)
        self.calls_gathered = 0  # BatchCheckAvailability calls made

    async def check(
        self, request: inventory_pb2.CheckAvailabilityRequest
    ) -> inventory_pb2.CheckAvailabilityResponse:
        """Inventory's answer for ``request``, alone or in a gathered call; raises what the
        call raised (``StockroomError``)."""
        idle = self._in_flight < self._max_in_flight and not self._waiting
        if idle or trace.get_current_span().get_span_context().trace_flags.sampled:
            self._in_flight += 1
            return await self._alone(request, slot=True)
        remaining = time_remaining_s()
        waiting = _Waiting(
            request,
            asyncio.get_running_loop().create_future(),
            None if remaining is None else time.monotonic() + remaining,
            otel_context.get_current(),
        )
        self._waiting.append(waiting)
        self._start_calls()
        try:
            answer = await waiting.future
        except asyncio.CancelledError:
            # Cancelled (its deadline) after its turn came: give the slot back.
            if _turn_given(waiting.future):
                self._release()
            raise
        if isinstance(answer, _AskAlone):
            return await self._alone(request, slot=answer.slot)
        return answer

    async def _alone(
        self, request: inventory_pb2.CheckAvailabilityRequest, *, slot: bool
    ) -> inventory_pb2.CheckAvailabilityResponse:
        try:
            self.calls_alone += 1
            self._calls.add(1, _ALONE)
            self._checks.add(1, _ALONE)
            return await self._stub.CheckAvailability(request)
        finally:
            if slot:
                self._release()

    def _release(self) -> None:
        self._in_flight -= 1
        self._start_calls()

    def _start_calls(self) -> None:
        """Send what waits while slots are free: one check alone (from its own task), more
        together (from a task of their own)."""
        while self._waiting and self._in_flight < self._max_in_flight:
            batch = self._next_batch()
            if not batch:
                continue
            self._in_flight += 1
            if len(batch) == 1 or not self.gathered:
                for waiting in batch[1:]:  # inventory has no batches: each asks alone
                    waiting.future.set_result(_ASK_ALONE)
                batch[0].future.set_result(_YOUR_TURN)
                continue
            # A context of its own: no quote's deadline or span is current in it.
            task = asyncio.create_task(self._together(batch), context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _next_batch(self) -> list[_Waiting]:
        """The checks still waiting for an answer, oldest first, as many as one call takes."""
        batch: list[_Waiting] = []
        lines = 0
        while self._waiting and len(batch) < self._max_checks:
            waiting = self._waiting[0]
            if waiting.future.done():  # its caller stopped waiting
                self._waiting.pop(0)
                continue
            size = len(waiting.request.lines)
            if batch and lines + size > self._max_lines:
                break
            self._waiting.pop(0)
            batch.append(waiting)
            lines += size
        return batch

    async def _together(self, batch: list[_Waiting]) -> None:
        try:
            responses = await self._gathered_call(batch)
        except StockroomError as error:
            if error.code == "UNIMPLEMENTED":
                self.gathered = False
            alone = isinstance(error, InvalidArgument) or not self.gathered
            _settle(batch, _ASK_ALONE if alone else error)
        except Exception as error:  # each check fails as its own call would have
            _settle(batch, error)
        except BaseException:
            # Cancelled (the server stopping): the checks' callers are not, so each gets
            # an error it answers as "availability unknown", not a cancellation of its own.
            _settle(batch, Unavailable("the call to inventory was cancelled"))
            raise
        else:
            for waiting, response in zip(batch, responses, strict=True):
                _settle([waiting], response)
        finally:
            self._release()

    async def _gathered_call(
        self, batch: list[_Waiting]
    ) -> list[inventory_pb2.CheckAvailabilityResponse]:
        self.calls_gathered += 1
        self._calls.add(1, _GATHERED)
        self._checks.add(len(batch), _GATHERED)
        links = [
            trace.Link(context)
            for context in (
                trace.get_current_span(w.trace_context).get_span_context() for w in batch
            )
            if context.is_valid
        ]
        deadlines = [w.deadline_at for w in batch]
        timeout_s = (
            None
            if None in deadlines
            else max(d for d in deadlines if d is not None) - time.monotonic()
        )
        # The task's context is empty: the span is a root, the deadline the batch's own.
        with (
            self._telemetry.tracer.start_as_current_span(
                BATCH_SPAN, links=links, attributes={BATCH_SIZE_ATTRIBUTE: len(batch)}
            ),
            deadline_scope(timeout_s),
        ):
            request = inventory_pb2.BatchCheckAvailabilityRequest(
                requests=[w.request for w in batch]
            )
            response = await self._stub.BatchCheckAvailability(request)
        if len(response.responses) != len(batch):
            raise Internal(
                f"inventory answered {len(response.responses)} checks of {len(batch)}",
                reason="MALFORMED_RESPONSE",
            )
        return list(response.responses)


def _settle(
    batch: list[_Waiting],
    outcome: inventory_pb2.CheckAvailabilityResponse | _AskAlone | BaseException,
) -> None:
    for waiting in batch:
        if waiting.future.done():  # its caller stopped waiting
            continue
        if isinstance(outcome, BaseException):
            waiting.future.set_exception(outcome)
        else:
            waiting.future.set_result(outcome)


def _turn_given(future: asyncio.Future[_Answer]) -> bool:
    return (
        future.done()
        and not future.cancelled()
        and future.exception() is None
        and future.result() is _YOUR_TURN
    )
