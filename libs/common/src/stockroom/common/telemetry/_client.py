"""Client side of RPC telemetry: one client span per call, with every attempt inside it.

Ours rather than ``opentelemetry-instrumentation-grpc``'s aio client
interceptors: checked against 0.66b1, those end the span only when the call
fails with an ``AioRpcError``. The calls our own chain fails before the wire
(an open breaker's CIRCUIT_OPEN, DEADLINE_PASSED) and calls cancelled while
waiting leave their span open forever, so it is never exported: exactly the
failures an operator looks for. They also record no ErrorInfo and no metrics.

``client_interceptors`` go outside the resilience chain (``connect`` puts them
there), so the span covers the deadline, every retry and the backoff between
them, and it is current while those interceptors run: the attempt number,
breaker state, deadline and retry events land on it. The W3C trace context is
injected into the metadata here, so every attempt carries the same parent.
``AttemptCounter`` goes innermost and counts the attempts that reached the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import grpc
from opentelemetry import propagate, trace

from stockroom.common.client._deadlines import method_name
from stockroom.common.client._retries import ATTEMPT_METADATA
from stockroom.common.errors._status import error_from_status
from stockroom.common.telemetry import _names as names
from stockroom.common.telemetry._providers import Telemetry
from stockroom.common.telemetry._rpc import OK, Outcome, rpc_attributes, span_name


class _ClientTelemetry:
    def __init__(self, telemetry: Telemetry, target: str) -> None:
        self._tracer = telemetry.tracer
        self._duration = telemetry.rpc_client_duration
        self._peer = _server_attributes(target)
        self._finishing: set[asyncio.Task[None]] = set()

    def _start(self, method: str) -> trace.Span:
        return self._tracer.start_span(
            span_name(method),
            kind=trace.SpanKind.CLIENT,
            attributes={**rpc_attributes(method), **self._peer},
        )

    def _finish(self, span: trace.Span, method: str, started: float, outcome: Outcome) -> None:
        outcome.record(span, server=False)
        span.end()
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._duration.record(elapsed_ms, outcome.metric_attributes(method))

    def _finish_when_done(self, span: trace.Span, method: str, started: float, call: Any) -> None:
        """End a streaming call's span once the stream is over, whoever ends it."""

        async def finish(done: Any) -> None:
            code: grpc.StatusCode = await done.code()
            if code is grpc.StatusCode.OK:
                self._finish(span, method, started, OK)
                return
            error = error_from_status(code, await done.details(), await done.trailing_metadata())
            self._finish(span, method, started, Outcome.of_error(error))

        def schedule(done: Any) -> None:
            task = asyncio.get_running_loop().create_task(finish(done))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)

        call.add_done_callback(schedule)

    async def _intercept(
        self, continuation: Any, details: grpc.aio.ClientCallDetails, request: Any, *, unary: bool
    ) -> Any:
        method = method_name(details)
        span = self._start(method)
        started = time.perf_counter()
        with trace.use_span(span, end_on_exit=False, record_exception=False):
            try:
                call = await continuation(_with_trace_context(details), request)
            except BaseException as error:  # failed before the wire, or cancelled
                self._finish(span, method, started, Outcome.of_error(error))
                raise
            if not unary:
                self._finish_when_done(span, method, started, call)
                return call
            try:
                await call
            except asyncio.CancelledError as error:
                self._finish(span, method, started, Outcome.of_error(error))
                raise
            except Exception as error:  # the caller gets it from the call it awaits
                self._finish(span, method, started, Outcome.of_error(error))
            else:
                self._finish(span, method, started, OK)
            return call


class UnaryUnaryTelemetry(_ClientTelemetry, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await self._intercept(continuation, client_call_details, request, unary=True)


class UnaryStreamTelemetry(_ClientTelemetry, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await self._intercept(continuation, client_call_details, request, unary=False)


class StreamUnaryTelemetry(_ClientTelemetry, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        # Not awaited here: a caller that writes requests needs the call before it ends.
        return await self._intercept(
            continuation, client_call_details, request_iterator, unary=False
        )


class StreamStreamTelemetry(_ClientTelemetry, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await self._intercept(
            continuation, client_call_details, request_iterator, unary=False
        )


class AttemptCounter(grpc.aio.UnaryUnaryClientInterceptor):
    """Counts each unary attempt that went on the wire, by method, code and retry or not."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._attempts = telemetry.rpc_client_attempts

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        call = await continuation(client_call_details, request)
        # Await the call itself, not just its code(): cancelling this wait must cancel the RPC.
        with contextlib.suppress(grpc.aio.AioRpcError):  # the caller gets it from the call
            await call
        code: grpc.StatusCode = await call.code()
        retry = any(key == ATTEMPT_METADATA for key, _ in client_call_details.metadata or ())
        self._attempts.add(
            1,
            {
                **rpc_attributes(method_name(client_call_details)),
                names.RPC_GRPC_STATUS_CODE: code.value[0],
                names.RETRY: retry,
            },
        )
        return call


def client_interceptors(telemetry: Telemetry, target: str) -> list[grpc.aio.ClientInterceptor]:
    """One span-making interceptor per RPC shape (grpc.aio files each under one shape)."""
    return [
        UnaryUnaryTelemetry(telemetry, target),
        UnaryStreamTelemetry(telemetry, target),
        StreamUnaryTelemetry(telemetry, target),
        StreamStreamTelemetry(telemetry, target),
    ]


def _with_trace_context(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    """The call's details with the current span's W3C ``traceparent`` (and baggage) added."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return details
    metadata = grpc.aio.Metadata(*(details.metadata or ()), *carrier.items())
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


def _server_attributes(target: str) -> dict[str, str | int]:
    """``server.address`` and ``server.port`` from a target such as ``dns:///inventory:50051``."""
    authority = target.rpartition("/")[2].removeprefix("ipv4:").removeprefix("ipv6:")
    host, _, port = authority.rpartition(":")
    if not host or not port.isdigit():
        return {names.SERVER_ADDRESS: authority}
    return {names.SERVER_ADDRESS: host.strip("[]"), names.SERVER_PORT: int(port)}
