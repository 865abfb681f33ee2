"""Server side of RPC telemetry: the server span and ``rpc.server.duration`` of each call,
as two cheap steps that ``GrpcServer``'s composed stack (``server._stack``) runs around it.

``MethodTelemetry`` is built once per method when it is registered, with the
span name (``pkg.Service/Method``, as the conventions name it), the span
attributes and one metric attribute set per status code computed once; per
call it does only what someone reads:

- when traces are recorded (an SDK with an exporter, or a test's provider),
  a SERVER span whose parent is the caller's W3C ``traceparent``, current for
  everything inside the call, ended with the code, the ErrorInfo reason and
  domain and, for the codes that mean the server failed, an error status;
- when they are not, nothing is made; a caller's ``traceparent`` is still
  made current (unrecorded), so log lines carry the caller's trace id and the
  calls this one makes continue the caller's trace;
- when metrics are exported, the call's duration, by method and code.

Health checks and reflection get neither: probes every few seconds would bury
the traces that matter. (This replaced ``opentelemetry-instrumentation-grpc``'s
aio server interceptor, which, checked against 0.66b1, needs an interceptor
awaited on every call, starts a span even with no SDK, wraps every servicer
context, leaves a cancelled call's span OK and records no ErrorInfo and no
metrics; docs/performance.md has the numbers.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.util.types import AttributeValue

from stockroom.common._interceptors import Context
from stockroom.common.errors._status import error_from_status
from stockroom.common.telemetry import _names as names
from stockroom.common.telemetry._providers import Telemetry
from stockroom.common.telemetry._rpc import OK, Outcome, rpc_attributes, span_name

UNTRACED_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
Metadata = Sequence[tuple[str, Any]]


def is_traced(method: str) -> bool:
    return not method.startswith(UNTRACED_PREFIXES)


class _MetadataGetter(Getter[Metadata]):
    """W3C headers read straight from grpc's metadata tuple (no dict built per call)."""

    def get(self, carrier: Metadata, key: str) -> list[str] | None:
        found = [value for name, value in carrier if name == key and isinstance(value, str)]
        return found or None

    def keys(self, carrier: Metadata) -> list[str]:
        return [name for name, _ in carrier]


_GETTER = _MetadataGetter()


class CallTelemetry:
    """One call's span, context token and start time, between ``begin`` and ``end``."""

    __slots__ = ("span", "started", "token")

    def __init__(self, span: trace.Span | None, token: object | None, started: float) -> None:
        self.span = span
        self.token = token
        self.started = started


class MethodTelemetry:
    """The server span and duration of one method's calls (see the module doc)."""

    def __init__(self, method: str, telemetry: Telemetry) -> None:
        self._tracer = telemetry.tracer if telemetry.traces_recorded else None
        self._duration = telemetry.rpc_server_duration if telemetry.metrics_recorded else None
        self._name = span_name(method)
        self._attributes = rpc_attributes(method)
        self._by_code: dict[int, dict[str, AttributeValue]] = {}
        # The metadata keys the configured propagators read (traceparent, tracestate, baggage).
        self._fields = frozenset(propagate.get_global_textmap().fields)

    def begin(self, context: Context) -> CallTelemetry:
        """Start the call's span (if recorded) and make it, or the caller's trace, current."""
        metadata = cast("Metadata", context.invocation_metadata() or ())
        fields = self._fields
        # Most calls carry no trace context (a load balancer's probe, a client without
        # tracing): the propagators are not run for them.
        carried = any(name in fields for name, _ in metadata)
        parent = propagate.extract(metadata, getter=_GETTER) if carried else None
        span: trace.Span | None = None
        token: object | None = None
        if self._tracer is not None:
            span = self._tracer.start_span(
                self._name, parent, kind=trace.SpanKind.SERVER, attributes=self._attributes
            )
            token = otel_context.attach(trace.set_span_in_context(span, parent))
        elif parent is not None:
            token = otel_context.attach(parent)
        return CallTelemetry(span, token, time.perf_counter() if self._duration else 0.0)

    def end(self, call: CallTelemetry, outcome: Outcome) -> None:
        """Record the outcome on the span and the duration, end the span, restore the context."""
        if self._duration is not None:
            elapsed_ms = (time.perf_counter() - call.started) * 1000
            self._duration.record(elapsed_ms, self._metric_attributes(outcome.code_number))
        span = call.span
        if span is not None:
            if span.is_recording():
                outcome.record(span, server=True)
            span.end()
        if call.token is not None:
            otel_context.detach(call.token)  # type: ignore[arg-type]

    def _metric_attributes(self, code: int) -> dict[str, AttributeValue]:
        attributes = self._by_code.get(code)
        if attributes is None:
            attributes = {**self._attributes, names.RPC_GRPC_STATUS_CODE: code}
            self._by_code[code] = attributes
        return attributes


def reported_outcome(context: Context) -> Outcome | None:
    """The status the call ended with (abort or set_code), with its ErrorInfo; None if unset."""
    code = _status_code(context.code())
    if code is None:
        return None
    if code is grpc.StatusCode.OK:
        return OK
    error = error_from_status(code, context.details() or "", context.trailing_metadata())
    return Outcome(code, error.reason, error.domain, error.message)


def cancelled_outcome(context: Context) -> Outcome:
    """A call cancelled under the servicer: by its deadline, or by its caller."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return Outcome(grpc.StatusCode.DEADLINE_EXCEEDED, message="the deadline expired")
    return Outcome(grpc.StatusCode.CANCELLED, message="the caller cancelled the call")


def _status_code(code: Any) -> grpc.StatusCode | None:
    """grpc.aio reports the code as a ``StatusCode`` or its number, depending on who set it."""
    if code is None or isinstance(code, grpc.StatusCode):
        return code
    return _CODES_BY_NUMBER.get(int(code))
