"""Client spans: one per call made through ``connect``, parent of the server's span across
the wire, ended however the call ends, with the attempts and the ErrorInfo on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from stockroom.common import errors
from stockroom.common.client import (
    BreakerState,
    Policy,
    RetryPolicy,
    connect,
    deadline_scope,
    downstream_of,
)
from stockroom.common.client import _spans as spans
from stockroom.common.server import Context, ServiceRegistration
from stockroom.common.telemetry import _names as names
from stockroom.common.testing import ECHO_METHOD as METHOD
from stockroom.common.testing import ECHO_SERVICE as ECHO
from stockroom.common.testing import (
    BalanceRequest,
    FaultInjector,
    Ledger,
    add_echo_to_server,
    balance_callable,
    echo_callable,
)

from .conftest import ServeFactory, SpanRecorder, eventually, parent_of, unary, unary_stream

FAST = Policy(retry=RetryPolicy(initial_backoff_s=0.001, max_backoff_s=0.002))
RELAY = "stockroom.testing.Relay"
COUNTER = "stockroom.testing.Counter"


def relay(downstream: grpc.aio.Channel) -> ServiceRegistration:
    """Forwards each request to the echo service: a server that is also a client."""

    async def forward(request: bytes, context: Context) -> bytes:
        return await echo_callable(downstream)(request)

    def add(server: grpc.aio.Server) -> None:
        handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(forward)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(RELAY, {"Forward": handler}),)
        )

    return ServiceRegistration(RELAY, add)


def counter() -> ServiceRegistration:
    async def count(request: bytes, context: Context) -> AsyncIterator[bytes]:
        for n in range(int(request)):
            yield str(n).encode()

    def add(server: grpc.aio.Server) -> None:
        handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_stream_rpc_method_handler(count)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(COUNTER, {"Count": handler}),)
        )

    return ServiceRegistration(COUNTER, add)


async def test_one_trace_runs_from_a_server_through_its_client_call_to_the_next_server(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    telemetry = span_recorder.telemetry
    async with (
        serve(ServiceRegistration(ECHO, add_echo_to_server), telemetry=telemetry) as echo,
        connect(echo, telemetry=telemetry) as downstream,
        serve(relay(downstream), telemetry=telemetry) as relay_address,
        connect(relay_address, telemetry=telemetry) as channel,
    ):
        assert await unary(channel, f"/{RELAY}/Forward")(b"hi") == b"hi"

    finished = {(s.kind, s.name): s for s in span_recorder.exporter.get_finished_spans()}
    caller = finished[SpanKind.CLIENT, f"{RELAY}/Forward"]
    relay_span = finished[SpanKind.SERVER, f"{RELAY}/Forward"]
    relay_call = finished[SpanKind.CLIENT, METHOD.lstrip("/")]
    echo_span = finished[SpanKind.SERVER, METHOD.lstrip("/")]
    assert len({s.context.trace_id for s in finished.values()}) == 1
    assert parent_of(relay_span) == caller.context.span_id
    assert parent_of(relay_call) == relay_span.context.span_id
    assert parent_of(echo_span) == relay_call.context.span_id
    assert relay_call.attributes is not None
    assert relay_call.attributes[names.SERVER_ADDRESS] == "127.0.0.1"
    assert relay_call.attributes[spans.DEADLINE_SOURCE] == "propagated"  # the relay's own deadline


async def test_a_retried_call_is_one_span_with_every_attempt_on_it_and_each_attempt_served(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    faults = FaultInjector()
    faults.fail_next(2, errors.Unavailable("flaky"))
    telemetry = span_recorder.telemetry
    async with (
        serve(Ledger().registration(), interceptors=[faults], telemetry=telemetry) as address,
        connect(address, FAST, telemetry=telemetry) as channel,
    ):
        await balance_callable(channel)(BalanceRequest())

    call = span_recorder.client_span()
    assert call.attributes is not None
    assert call.attributes[spans.ATTEMPT] == 3
    assert call.attributes[spans.BREAKER_STATE] == "closed"
    assert call.attributes[names.RPC_GRPC_STATUS_CODE] == 0
    assert call.status.status_code is StatusCode.UNSET
    served = span_recorder.spans(SpanKind.SERVER)
    assert len(served) == 3
    assert {parent_of(s) for s in served} == {call.context.span_id}


async def test_a_call_the_server_fails_ends_its_client_span_in_error_with_the_reason(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    faults = FaultInjector()
    faults.fail_next(1, errors.FailedPrecondition("on hold", reason="ACCOUNT_ON_HOLD"))
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, telemetry=span_recorder.telemetry) as channel,
    ):
        with pytest.raises(errors.FailedPrecondition):
            await balance_callable(channel)(BalanceRequest())

    call = span_recorder.client_span()
    assert call.attributes is not None
    assert (
        call.attributes[names.RPC_GRPC_STATUS_CODE] == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    )
    assert call.attributes[names.ERROR_REASON] == "ACCOUNT_ON_HOLD"
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == "FAILED_PRECONDITION ACCOUNT_ON_HOLD: on hold"


async def test_a_call_an_open_breaker_refuses_still_ends_its_span_with_circuit_open(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    async with (
        serve(Ledger().registration()) as address,
        connect(address, telemetry=span_recorder.telemetry) as channel,
    ):
        downstream_of(channel).breaker._transition(BreakerState.OPEN)
        with pytest.raises(errors.Unavailable):
            await balance_callable(channel)(BalanceRequest())

    call = span_recorder.client_span()  # the instrumentation package never ends this one
    assert call.attributes is not None
    assert call.attributes[names.RPC_GRPC_STATUS_CODE] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert call.attributes[names.ERROR_REASON] == "CIRCUIT_OPEN"
    assert [e.name for e in call.events] == [spans.EVENT_BREAKER_REJECTED]
    assert call.status.status_code is StatusCode.ERROR


async def test_a_call_refused_for_want_of_time_ends_its_span_with_deadline_passed(
    span_recorder: SpanRecorder,
) -> None:
    async with connect("127.0.0.1:1", telemetry=span_recorder.telemetry) as channel:
        with deadline_scope(0), pytest.raises(errors.DeadlineExceeded):
            await balance_callable(channel)(BalanceRequest())

    call = span_recorder.client_span()
    assert call.attributes is not None
    assert call.attributes[names.ERROR_REASON] == "DEADLINE_PASSED"
    assert [e.name for e in call.events] == [spans.EVENT_DEADLINE_REFUSED]


async def test_a_call_its_caller_cancels_ends_its_span_as_cancelled(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    async with (
        serve(ServiceRegistration(ECHO, add_echo_to_server)) as address,
        connect(address, telemetry=span_recorder.telemetry) as channel,
    ):
        call = echo_callable(channel)(b"", metadata=(("echo-delay-ms", "5000"),))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    span = span_recorder.client_span()
    assert span.attributes is not None
    assert span.attributes[names.RPC_GRPC_STATUS_CODE] == grpc.StatusCode.CANCELLED.value[0]


async def test_a_stream_gets_client_and_server_spans_that_end_with_the_stream(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    telemetry = span_recorder.telemetry
    async with (
        serve(counter(), telemetry=telemetry) as address,
        connect(address, telemetry=telemetry) as channel,
    ):
        received = [m async for m in unary_stream(channel, f"/{COUNTER}/Count")(b"3")]
        await eventually(lambda: bool(span_recorder.spans(SpanKind.CLIENT)))

    assert received == [b"0", b"1", b"2"]
    (server,) = span_recorder.spans(SpanKind.SERVER)
    client = span_recorder.client_span()
    assert parent_of(server) == client.context.span_id
    assert client.attributes is not None
    assert client.attributes[names.RPC_GRPC_STATUS_CODE] == 0
