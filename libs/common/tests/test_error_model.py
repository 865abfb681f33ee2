"""The error model end to end: domain errors become rich statuses and come back typed,
for every error class, every detail type and every RPC shape, with trailers intact."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from opentelemetry import trace

from stockroom.common import errors
from stockroom.common.client import connect
from stockroom.common.errors import (
    FieldViolation,
    PreconditionViolation,
    ResourceRef,
    StockroomError,
)
from stockroom.common.server import (
    AroundCallInterceptor,
    Context,
    JsonFormatter,
    ServiceRegistration,
)

from .conftest import (
    ServeFactory,
    SpanRecorder,
    stream_stream,
    stream_unary,
    unary,
    unary_stream,
)

SERVICE = "stockroom.testing.Failing"
KEPT_TRAILER = ("x-servicer-note", "kept")

# One error per class, each with every detail its class would carry in practice.
ERRORS: dict[str, StockroomError] = {
    "invalid": errors.InvalidArgument(
        "the request has invalid fields",
        reason="INVALID_REQUEST",
        field_violations=[
            FieldViolation("lines[0].sku", "must not be empty", "REQUIRED"),
            FieldViolation("lines[1].quantity", "must be positive", "OUT_OF_RANGE"),
        ],
    ),
    "precondition": errors.FailedPrecondition(
        "not enough stock",
        reason="INSUFFICIENT_STOCK",
        domain="inventory.stockroom",
        metadata={"sku": "SKU-1", "available": "2"},
        precondition_violations=[PreconditionViolation("STOCK", "skus/SKU-1", "2 < 5")],
    ),
    "not_found": errors.NotFound(
        "no such SKU",
        reason="SKU_NOT_FOUND",
        resource=ResourceRef("stockroom.inventory/Sku", "skus/SKU-9", "never received"),
    ),
    "exists": errors.AlreadyExists("already there", reason="PRICE_LIST_EXISTS"),
    "aborted": errors.Aborted("etag mismatch", reason="ETAG_MISMATCH"),
    "out_of_range": errors.OutOfRange("past the end", reason="PAGE_TOKEN_EXPIRED"),
    "denied": errors.PermissionDenied("no", reason="CALLER_NOT_ALLOWED"),
    "unauthenticated": errors.Unauthenticated("who?", reason="NO_CREDENTIALS"),
    "exhausted": errors.ResourceExhausted("slow down", reason="OVERLOADED", retry_after_s=1.25),
    "unavailable": errors.Unavailable("database down", reason="DATABASE_UNAVAILABLE"),
    "deadline": errors.DeadlineExceeded("too slow", reason="DEADLINE_PASSED"),
    "cancelled": errors.Cancelled("gave up", reason="CANCELLED"),
    "internal": errors.Internal("known internal failure", reason="LEDGER_CORRUPT"),
}


def _raise(key: bytes, context: Context) -> None:
    context.set_trailing_metadata((KEPT_TRAILER,))
    name = key.decode()
    if name == "bug":
        raise RuntimeError("password=hunter2 in /srv/secret.py line 42")
    raise ERRORS[name]


async def _unary(request: bytes, context: Context) -> bytes:
    _raise(request, context)
    return request


async def _server_stream(request: bytes, context: Context) -> AsyncIterator[bytes]:
    yield b"first"
    _raise(request, context)


async def _client_stream(requests: AsyncIterator[bytes], context: Context) -> bytes:
    async for request in requests:
        _raise(request, context)
    return b""


async def _bidi(requests: AsyncIterator[bytes], context: Context) -> AsyncIterator[bytes]:
    async for request in requests:
        yield b"first"
        _raise(request, context)


def failing_service() -> ServiceRegistration:
    def add(server: grpc.aio.Server) -> None:
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            "Unary": grpc.unary_unary_rpc_method_handler(_unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(_server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(_client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(_bidi),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))

    return ServiceRegistration(SERVICE, add)


def assert_same_error(received: StockroomError, sent: StockroomError) -> None:
    assert type(received) is type(sent)
    assert (received.code, received.message, received.reason, received.domain) == (
        sent.code,
        sent.message,
        sent.reason,
        sent.domain,
    )
    assert received.metadata == sent.metadata
    assert received.field_violations == sent.field_violations
    assert received.precondition_violations == sent.precondition_violations
    assert received.resource == sent.resource
    assert received.retry_after_s == sent.retry_after_s


async def one(request: bytes) -> AsyncIterator[bytes]:
    yield request


async def collect(stream: Any, into: list[bytes]) -> None:
    async for response in stream:
        into.append(response)


@pytest.mark.parametrize("name", sorted(ERRORS))
async def test_every_domain_error_reaches_the_client_as_the_same_typed_error(
    serve: ServeFactory, name: str
) -> None:
    async with serve(failing_service()) as address, connect(address) as channel:
        with pytest.raises(StockroomError) as raised:
            await unary(channel, f"/{SERVICE}/Unary")(name.encode())

    assert_same_error(raised.value, ERRORS[name])
    assert raised.value.__cause__.code().name == ERRORS[name].code  # type: ignore[union-attr]


async def test_a_server_stream_yields_its_messages_then_raises_the_typed_error(
    serve: ServeFactory,
) -> None:
    received: list[bytes] = []
    async with serve(failing_service()) as address, connect(address) as channel:
        stream = unary_stream(channel, f"/{SERVICE}/ServerStream")(b"precondition")
        with pytest.raises(errors.FailedPrecondition) as raised:
            await collect(stream, received)

    assert received == [b"first"]
    assert_same_error(raised.value, ERRORS["precondition"])


async def test_a_client_stream_raises_the_typed_error(serve: ServeFactory) -> None:
    async with serve(failing_service()) as address, connect(address) as channel:
        with pytest.raises(errors.InvalidArgument) as raised:
            await stream_unary(channel, f"/{SERVICE}/ClientStream")(one(b"invalid"))

    assert_same_error(raised.value, ERRORS["invalid"])


async def test_a_client_stream_written_with_write_raises_the_typed_error(
    serve: ServeFactory,
) -> None:
    async with serve(failing_service()) as address, connect(address) as channel:
        call = stream_unary(channel, f"/{SERVICE}/ClientStream")()
        await call.write(b"not_found")
        await call.done_writing()
        with pytest.raises(errors.NotFound) as raised:
            await call

    assert_same_error(raised.value, ERRORS["not_found"])


async def test_a_bidi_stream_yields_then_raises_the_typed_error(serve: ServeFactory) -> None:
    received: list[bytes] = []
    async with serve(failing_service()) as address, connect(address) as channel:
        stream = stream_stream(channel, f"/{SERVICE}/Bidi")(one(b"exhausted"))
        with pytest.raises(errors.ResourceExhausted) as raised:
            await collect(stream, received)

    assert received == [b"first"]
    assert_same_error(raised.value, ERRORS["exhausted"])


async def test_trailers_the_servicer_set_survive_next_to_the_error_details(
    serve: ServeFactory,
) -> None:
    async with serve(failing_service()) as address, connect(address) as channel:
        call = unary(channel, f"/{SERVICE}/Unary")(b"precondition")
        with pytest.raises(errors.FailedPrecondition) as raised:
            await call
        trailers = await call.trailing_metadata()

    assert KEPT_TRAILER in list(trailers)
    assert trailers.get("grpc-status-details-bin")
    assert raised.value.precondition_violations  # the details were decoded from the same trailer
    assert await call.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_trailers_of_a_successful_call_pass_every_client_interceptor(
    serve: ServeFactory,
) -> None:
    async def echo(request: bytes, context: Context) -> bytes:
        context.set_trailing_metadata((KEPT_TRAILER,))
        return request

    def add(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    SERVICE, {"Unary": grpc.unary_unary_rpc_method_handler(echo)}
                ),
            )
        )

    async with serve(ServiceRegistration(SERVICE, add)) as address, connect(address) as channel:
        call = unary(channel, f"/{SERVICE}/Unary")(b"hello")
        response = await call
        trailers = await call.trailing_metadata()

    assert response == b"hello"
    assert KEPT_TRAILER in list(trailers)


class TracingStandIn(AroundCallInterceptor):
    """What a tracing interceptor does: run the call inside a current span."""

    def __init__(self, recorder: SpanRecorder) -> None:
        self._recorder = recorder

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        with self._recorder.tracer.start_as_current_span("server"):
            yield


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("stockroom.common.server")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


async def test_a_bug_becomes_an_opaque_internal_error_logged_with_its_trace_id(
    serve: ServeFactory, span_recorder: SpanRecorder, json_log: io.StringIO
) -> None:
    async with (
        serve(failing_service(), outer_interceptors=[TracingStandIn(span_recorder)]) as address,
        connect(address) as channel,
    ):
        with pytest.raises(errors.Internal) as raised:
            await unary(channel, f"/{SERVICE}/Unary")(b"bug")

    trace_id = format(span_recorder.finished("server").context.trace_id, "032x")
    assert raised.value.message == f"internal error (trace_id {trace_id})"
    assert raised.value.metadata == {"trace_id": trace_id}
    assert "hunter2" not in repr(raised.value.__cause__)
    log = json.loads(json_log.getvalue().splitlines()[-1])
    assert log["trace_id"] == trace_id
    assert "hunter2" in log["exc"]  # the details are in the log, for the operator


async def test_without_tracing_a_bug_is_still_opaque(serve: ServeFactory) -> None:
    assert not trace.get_current_span().get_span_context().is_valid
    async with serve(failing_service()) as address, connect(address) as channel:
        with pytest.raises(errors.Internal) as raised:
            await unary(channel, f"/{SERVICE}/Unary")(b"bug")

    assert raised.value.message == "internal error"
    assert "hunter2" not in repr(raised.value.__cause__)
