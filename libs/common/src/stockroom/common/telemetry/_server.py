"""Server side of RPC telemetry: the maintained OpenTelemetry interceptor makes the span,
ours records what it misses.

``opentelemetry-instrumentation-grpc`` (``aio_server_interceptor``) extracts
the W3C trace context from the metadata, starts the server span and keeps it
current for everything inside it (our interceptors and the servicer), and
records the code of ``context.abort``, which is how our error mapping ends a
failed call. Checked against 0.66b1, it falls short in three ways that
``RpcServerTelemetry``, installed right inside it, fills:

- a call cancelled by its deadline or its caller keeps the ``OK`` code the
  span started with; we record DEADLINE_EXCEEDED or CANCELLED;
- the ErrorInfo reason and domain are not recorded; we decode them from the
  status details trailer the error mapping sent;
- it records no metrics; we record ``rpc.server.duration`` per method and code.

We also name the span ``pkg.Service/Method`` as the conventions do (the
package keeps the leading slash). Health checks and reflection get neither
spans nor metrics: probes every few seconds would bury the traces that matter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import (
    aio_server_interceptor,
)

from stockroom.common._interceptors import AroundCallInterceptor, Context
from stockroom.common.errors._status import error_from_status
from stockroom.common.telemetry._providers import Telemetry
from stockroom.common.telemetry._rpc import OK, Outcome, span_name

UNTRACED_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def is_traced(method: str) -> bool:
    return not method.startswith(UNTRACED_PREFIXES)


def server_interceptors(telemetry: Telemetry) -> list[grpc.aio.ServerInterceptor]:
    """The tracing interceptors, outermost first; ``GrpcServer`` puts them outside all others."""
    package_interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        telemetry.tracer_provider, filter_=lambda details: is_traced(details.method)
    )
    return [package_interceptor, RpcServerTelemetry(telemetry)]


class RpcServerTelemetry(AroundCallInterceptor):
    """Final status, ErrorInfo and duration of each call, on the current (server) span."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._duration = telemetry.rpc_server_duration

    def applies_to(self, method: str) -> bool:
        return is_traced(method)

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        span = trace.get_current_span()
        span.update_name(span_name(method))
        started = time.perf_counter()
        outcome = OK
        try:
            yield
        except asyncio.CancelledError:
            outcome = _cancelled(context)
            raise
        except BaseException:
            outcome = _reported(context) or Outcome(grpc.StatusCode.UNKNOWN)
            raise
        else:
            outcome = _reported(context) or OK
        finally:
            outcome.record(span, server=True)
            elapsed_ms = (time.perf_counter() - started) * 1000
            self._duration.record(elapsed_ms, outcome.metric_attributes(method))


def _reported(context: Context) -> Outcome | None:
    """The status the call ended with (abort or set_code), with its ErrorInfo; None if unset."""
    code = _status_code(context.code())
    if code is None:
        return None
    if code is grpc.StatusCode.OK:
        return OK
    error = error_from_status(code, context.details() or "", context.trailing_metadata())
    return Outcome(code, error.reason, error.domain, error.message)


def _cancelled(context: Context) -> Outcome:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return Outcome(grpc.StatusCode.DEADLINE_EXCEEDED, message="the deadline expired")
    return Outcome(grpc.StatusCode.CANCELLED, message="the caller cancelled the call")


def _status_code(code: Any) -> grpc.StatusCode | None:
    """grpc.aio reports the code as a ``StatusCode`` or its number, depending on who set it."""
    if code is None or isinstance(code, grpc.StatusCode):
        return code
    return _CODES_BY_NUMBER.get(int(code))
