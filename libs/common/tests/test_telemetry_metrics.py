"""Metrics: RPC durations per method and code, attempts, breakers, budgets, shedding,
health, the database pool, and the gauges a service publishes itself."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from stockroom.common import errors
from stockroom.common.client import BreakerPolicy, Policy, RetryPolicy, connect
from stockroom.common.db import create_engine
from stockroom.common.server import Context, GrpcServer, ServerConfig, ServiceRegistration
from stockroom.common.telemetry import _names as names
from stockroom.common.telemetry import gauge, observe_gauge
from stockroom.common.testing import (
    BalanceRequest,
    FaultInjector,
    Ledger,
    balance_callable,
    serving,
)

from .conftest import ServeFactory, SpanRecorder, eventually, parent_of, unary

BALANCE = {names.RPC_SERVICE: "stockroom.testing.Ledger", names.RPC_METHOD: "Balance"}
FAST = Policy(retry=RetryPolicy(initial_backoff_s=0.001, max_backoff_s=0.002))


def histogram(recorder: SpanRecorder, metric: str, **attributes: Any) -> HistogramDataPoint:
    (point,) = [
        p
        for p in recorder.points(metric)
        if isinstance(p, HistogramDataPoint)
        and attributes.items() <= dict(p.attributes or {}).items()
    ]
    return point


async def test_rpc_durations_are_recorded_per_method_and_status_code_on_both_sides(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    faults = FaultInjector()
    telemetry = span_recorder.telemetry
    async with (
        serve(Ledger().registration(), interceptors=[faults], telemetry=telemetry) as address,
        connect(address, Policy(retry=None), telemetry=telemetry) as channel,
    ):
        for _ in range(2):
            await balance_callable(channel)(BalanceRequest())
        faults.fail_next(1, errors.NotFound("gone"))
        with pytest.raises(errors.NotFound):
            await balance_callable(channel)(BalanceRequest())

    for metric in (names.RPC_SERVER_DURATION, names.RPC_CLIENT_DURATION):
        ok = histogram(span_recorder, metric, **BALANCE, **{names.RPC_GRPC_STATUS_CODE: 0})
        not_found = histogram(span_recorder, metric, **BALANCE, **{names.RPC_GRPC_STATUS_CODE: 5})
        assert (ok.count, not_found.count) == (2, 1)
        assert dict(ok.attributes or {})[names.RPC_SYSTEM] == "grpc"
        assert ok.sum > 0


async def test_every_attempt_on_the_wire_is_counted_and_retries_are_told_apart(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    faults = FaultInjector()
    faults.fail_next(2, errors.Unavailable("flaky"))
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, FAST, telemetry=span_recorder.telemetry) as channel,
    ):
        await balance_callable(channel)(BalanceRequest())

    attempts = names.RPC_CLIENT_ATTEMPTS
    unavailable = {names.RPC_GRPC_STATUS_CODE: grpc.StatusCode.UNAVAILABLE.value[0]}
    assert span_recorder.value(attempts, **unavailable, **{names.RETRY: False}) == 1
    assert span_recorder.value(attempts, **unavailable, **{names.RETRY: True}) == 1
    assert span_recorder.value(attempts, **{names.RPC_GRPC_STATUS_CODE: 0, names.RETRY: True}) == 1
    assert histogram(span_recorder, names.RPC_CLIENT_DURATION, **BALANCE).count == 1


async def test_breaker_state_transitions_and_rejections_are_observed(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    faults = FaultInjector()
    faults.fail_all(errors.Unavailable("down"))
    breaker = BreakerPolicy(window_size=4, minimum_calls=4, open_duration_s=60)
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(
            address, Policy(retry=None, breaker=breaker), telemetry=span_recorder.telemetry
        ) as channel,
    ):
        for _ in range(6):  # 4 failures open it, 2 calls fail fast
            with pytest.raises(errors.Unavailable):
                await balance_callable(channel)(BalanceRequest())
        target = {names.TARGET: address}

        assert span_recorder.value(names.BREAKER_STATE_GAUGE, **target) == 2  # open
        opened = {names.BREAKER_STATE: "open"}
        assert span_recorder.value(names.BREAKER_TRANSITIONS, **target, **opened) == 1
        assert span_recorder.value(names.BREAKER_REJECTED_CALLS, **target) == 2


async def test_the_retry_budget_tokens_and_the_retries_it_denies_are_observed(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    faults = FaultInjector()
    faults.fail_all(errors.Unavailable("down"))
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(
            address, Policy(retry=FAST.retry, breaker=None), telemetry=span_recorder.telemetry
        ) as channel,
    ):
        # 10 tokens, one per failure: 2 retries (7 left), then 1 and one refused at 5 left,
        # then one refused at 4 left.
        for _ in range(3):
            with pytest.raises(errors.Unavailable):
                await balance_callable(channel)(BalanceRequest())
        target = {names.TARGET: address}

        assert span_recorder.value(names.RETRY_BUDGET_TOKENS, **target) == 4
        assert span_recorder.value(names.RETRY_BUDGET_DENIED, **target) == 2


async def test_in_flight_calls_shed_calls_and_health_are_observed_per_server(
    span_recorder: SpanRecorder,
) -> None:
    faults = FaultInjector()
    faults.delay_s = 5
    server = GrpcServer(
        ServerConfig(service_name="test", port=0, max_concurrent_rpcs=1),
        [Ledger().registration()],
        interceptors=[faults],
        telemetry=span_recorder.telemetry,
    )
    async with serving(server) as address, connect(address, Policy(retry=None)) as channel:
        port = {names.SERVER_PORT: server.port}
        slow = asyncio.ensure_future(balance_callable(channel)(BalanceRequest()))
        await eventually(lambda: server.shedder.in_flight == 1)
        with pytest.raises(errors.ResourceExhausted):
            await balance_callable(channel)(BalanceRequest())

        assert span_recorder.value(names.SERVER_IN_FLIGHT, **port) == 1
        assert span_recorder.value(names.SERVER_SHED_CALLS, **BALANCE) == 1
        assert span_recorder.value(names.SERVER_SERVING, **port) == 1
        await server.stop(grace_s=0)
        assert span_recorder.value(names.SERVER_SERVING, **port) == 0  # draining
        slow.cancel()


async def test_database_statements_are_spans_of_the_call_and_the_pool_is_measured(
    serve: ServeFactory, span_recorder: SpanRecorder, tmp_path: Path
) -> None:
    engine = create_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'test.db'}", telemetry=span_recorder.telemetry
    )

    async def query(request: bytes, context: Context) -> bytes:
        async with engine.connect() as connection:
            return str((await connection.execute(text("SELECT 42"))).scalar()).encode()

    def add(server: grpc.aio.Server) -> None:
        handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(query)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("stockroom.testing.Db", {"Query": handler}),)
        )

    async with (
        serve(
            ServiceRegistration("stockroom.testing.Db", add), telemetry=span_recorder.telemetry
        ) as address,
        connect(address) as channel,
    ):
        assert await unary(channel, "/stockroom.testing.Db/Query")(b"") == b"42"
    pool = {
        dict(p.attributes or {})["state"]: p.value
        for p in span_recorder.points(names.DB_CLIENT_CONNECTIONS_USAGE)
    }
    await engine.dispose()

    (server,) = span_recorder.spans(SpanKind.SERVER)
    (statement,) = [s for s in span_recorder.spans(SpanKind.CLIENT) if s.name.startswith("SELECT")]
    assert parent_of(statement) == server.context.span_id
    assert statement.attributes is not None
    assert statement.attributes["db.system"] == "sqlite"
    assert statement.attributes["db.statement"] == "SELECT 42"
    assert pool == {"idle": 1, "used": 0}  # checked out for the call, back in the pool after


def test_a_service_publishes_gauges_it_sets_and_gauges_it_observes(
    span_recorder: SpanRecorder,
) -> None:
    held = gauge(
        "stockroom.inventory.reservations.held",
        unit="{reservation}",
        telemetry=span_recorder.telemetry,
    )
    watchers = [object(), object()]
    observe_gauge(
        "stockroom.inventory.watchers", lambda: len(watchers), telemetry=span_recorder.telemetry
    )

    held.set(7, {"location": "WH-1"})
    held.set(3, {"location": "WH-1"})

    assert span_recorder.value("stockroom.inventory.reservations.held", location="WH-1") == 3
    assert span_recorder.value("stockroom.inventory.watchers") == 2


def test_a_failing_observed_gauge_does_not_stop_the_other_metrics(
    span_recorder: SpanRecorder,
) -> None:
    def broken() -> float:
        raise RuntimeError("cannot read")

    observe_gauge("stockroom.inventory.broken", broken, telemetry=span_recorder.telemetry)
    gauge("stockroom.inventory.fine", telemetry=span_recorder.telemetry).set(1)

    assert span_recorder.value("stockroom.inventory.fine") == 1
    assert span_recorder.points("stockroom.inventory.broken") == []


def test_a_service_gauge_must_be_named_under_its_service() -> None:
    with pytest.raises(ValueError, match=re.escape("stockroom.<service>.<what>")):
        gauge("reservations_held")
