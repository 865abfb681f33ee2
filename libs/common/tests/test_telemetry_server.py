"""Server spans: one per call, current for the servicer and every interceptor inside it,
ending with the status the caller saw and the ErrorInfo behind it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from stockroom.common import errors
from stockroom.common.client import connect
from stockroom.common.server import (
    AroundCallInterceptor,
    Context,
    JsonFormatter,
    ServiceRegistration,
    check_health,
)
from stockroom.common.telemetry import _names as names

from .conftest import ServeFactory, SpanRecorder, eventually, unary

SERVICE = "stockroom.testing.Probe"
logger = logging.getLogger("stockroom.tests.probe")


class Probe:
    """Handlers that succeed, fail in each way a servicer can, or hang; each notes the
    span that was current while it ran."""

    def __init__(self) -> None:
        self.current_span_ids: list[int] = []
        self.started = asyncio.Event()

    async def ok(self, request: bytes, context: Context) -> bytes:
        self.current_span_ids.append(trace.get_current_span().get_span_context().span_id)
        logger.info("handling a call")
        return request

    async def not_found(self, request: bytes, context: Context) -> bytes:
        raise errors.NotFound("no such SKU", reason="SKU_NOT_FOUND", domain="inventory")

    async def unavailable(self, request: bytes, context: Context) -> bytes:
        raise errors.Unavailable("database unreachable", reason="DATABASE_UNAVAILABLE")

    async def bug(self, request: bytes, context: Context) -> bytes:
        raise RuntimeError("a bug")

    async def hang(self, request: bytes, context: Context) -> bytes:
        self.started.set()
        await asyncio.sleep(30)
        return request

    def registration(self) -> ServiceRegistration:
        methods = {
            "Ok": self.ok,
            "NotFound": self.not_found,
            "Unavailable": self.unavailable,
            "Bug": self.bug,
            "Hang": self.hang,
        }

        def add(server: grpc.aio.Server) -> None:
            handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
                name: grpc.unary_unary_rpc_method_handler(m) for name, m in methods.items()
            }
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(SERVICE, handlers),)
            )

        return ServiceRegistration(SERVICE, add)


class CurrentSpanLog(AroundCallInterceptor):
    """A service's own interceptor (innermost): notes the span current when it runs."""

    def __init__(self) -> None:
        self.span_ids: list[int] = []

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        self.span_ids.append(trace.get_current_span().get_span_context().span_id)
        yield


def server_span(recorder: SpanRecorder) -> ReadableSpan:
    (span,) = recorder.spans(SpanKind.SERVER)
    return span


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


async def test_a_call_gets_one_server_span_named_after_its_method(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    async with (
        serve(Probe().registration(), telemetry=span_recorder.telemetry) as address,
        connect(address) as channel,
    ):
        await unary(channel, f"/{SERVICE}/Ok")(b"hello")

    span = server_span(span_recorder)
    assert span.name == f"{SERVICE}/Ok"
    assert span.attributes is not None
    assert span.attributes[names.RPC_SYSTEM] == "grpc"
    assert span.attributes[names.RPC_SERVICE] == SERVICE
    assert span.attributes[names.RPC_METHOD] == "Ok"
    assert span.attributes[names.RPC_GRPC_STATUS_CODE] == grpc.StatusCode.OK.value[0]
    assert span.status.status_code is StatusCode.UNSET


async def test_the_server_span_is_current_in_the_servicer_its_interceptors_and_its_logs(
    serve: ServeFactory, span_recorder: SpanRecorder, json_log: io.StringIO
) -> None:
    probe, inner = Probe(), CurrentSpanLog()
    async with (
        serve(
            probe.registration(), interceptors=[inner], telemetry=span_recorder.telemetry
        ) as address,
        connect(address) as channel,
    ):
        await unary(channel, f"/{SERVICE}/Ok")(b"hello")

    context = server_span(span_recorder).context
    assert probe.current_span_ids == [context.span_id]
    assert inner.span_ids == [context.span_id]
    (line,) = json_log.getvalue().splitlines()
    log = json.loads(line)
    assert log["msg"] == "handling a call"
    assert log["trace_id"] == format(context.trace_id, "032x")
    assert log["span_id"] == format(context.span_id, "016x")


@pytest.mark.parametrize(
    ("method", "code", "reason", "server_fault"),
    [
        ("NotFound", grpc.StatusCode.NOT_FOUND, "SKU_NOT_FOUND", False),
        ("Unavailable", grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE", True),
        ("Bug", grpc.StatusCode.INTERNAL, "INTERNAL", True),
    ],
)
async def test_a_failed_call_records_its_code_and_reason_and_only_server_faults_as_errors(
    serve: ServeFactory,
    span_recorder: SpanRecorder,
    method: str,
    code: grpc.StatusCode,
    reason: str,
    server_fault: bool,
) -> None:
    async with (
        serve(Probe().registration(), telemetry=span_recorder.telemetry) as address,
        connect(address) as channel,
    ):
        with pytest.raises(errors.StockroomError) as raised:
            await unary(channel, f"/{SERVICE}/{method}")(b"")

    assert raised.value.code == code.name
    span = server_span(span_recorder)
    assert span.attributes is not None
    assert span.attributes[names.RPC_GRPC_STATUS_CODE] == code.value[0]
    assert span.attributes[names.ERROR_REASON] == reason
    if server_fault:
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is not None
        assert span.status.description.startswith(f"{code.name} {reason}: ")
    else:  # a caller's mistake is not the server's error (OpenTelemetry gRPC conventions)
        assert span.status.status_code is StatusCode.UNSET


async def test_a_call_refused_by_load_shedding_is_traced_with_the_overload_reason(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    probe = Probe()
    async with (
        serve(
            probe.registration(), telemetry=span_recorder.telemetry, max_concurrent_rpcs=1
        ) as address,
        connect(address) as channel,
    ):
        hanging = asyncio.ensure_future(unary(channel, f"/{SERVICE}/Hang")(b"", timeout=5))
        async with asyncio.timeout(5):
            await probe.started.wait()
        with pytest.raises(errors.ResourceExhausted):
            await unary(channel, f"/{SERVICE}/Ok")(b"")
        hanging.cancel()

    (shed,) = [s for s in span_recorder.spans(SpanKind.SERVER) if s.name.endswith("/Ok")]
    assert shed.attributes is not None
    assert (
        shed.attributes[names.RPC_GRPC_STATUS_CODE] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    )
    assert shed.attributes[names.ERROR_REASON] == "OVERLOADED"


async def test_a_call_whose_deadline_expires_in_the_handler_is_recorded_as_deadline_exceeded(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    async with (
        serve(Probe().registration(), telemetry=span_recorder.telemetry) as address,
        connect(address) as channel,
    ):
        with pytest.raises(errors.DeadlineExceeded):
            await unary(channel, f"/{SERVICE}/Hang")(b"", timeout=0.2)
        await eventually(lambda: bool(span_recorder.spans(SpanKind.SERVER)))

    span = server_span(span_recorder)
    assert span.attributes is not None
    # The instrumentation package alone leaves the OK it started with.
    assert span.attributes[names.RPC_GRPC_STATUS_CODE] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert span.status.status_code is StatusCode.ERROR


async def test_a_call_its_caller_cancels_is_recorded_as_cancelled(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    probe = Probe()
    async with (
        serve(probe.registration(), telemetry=span_recorder.telemetry) as address,
        connect(address) as channel,
    ):
        call = unary(channel, f"/{SERVICE}/Hang")(b"", timeout=10)
        async with asyncio.timeout(5):
            await probe.started.wait()
        call.cancel()
        await eventually(lambda: bool(span_recorder.spans(SpanKind.SERVER)))

    span = server_span(span_recorder)
    assert span.attributes is not None
    assert span.attributes[names.RPC_GRPC_STATUS_CODE] == grpc.StatusCode.CANCELLED.value[0]
    assert span.status.status_code is StatusCode.UNSET


async def test_health_checks_and_reflection_are_not_traced(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    async with (
        serve(Probe().registration(), telemetry=span_recorder.telemetry) as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        await check_health(channel)

    assert span_recorder.exporter.get_finished_spans() == ()
    assert span_recorder.points(names.RPC_SERVER_DURATION) == []


async def test_without_an_sdk_calls_succeed_and_nothing_is_current(serve: ServeFactory) -> None:
    probe = Probe()
    async with serve(probe.registration()) as address, connect(address) as channel:
        assert await unary(channel, f"/{SERVICE}/Ok")(b"hello") == b"hello"

    assert probe.current_span_ids == [0]  # the API's invalid span: nothing recorded
