"""The circuit breaker on real calls: it opens on a sick downstream, fails fast with a
reason the caller can read, and recovers when the downstream does."""

from __future__ import annotations

import asyncio
import logging

import pytest

from stockroom.common import errors
from stockroom.common.client import (
    CIRCUIT_OPEN,
    BreakerPolicy,
    BreakerState,
    Policy,
    RetryPolicy,
    StateChange,
    connect,
    downstream_of,
    live_downstreams,
)
from stockroom.common.client import _spans as spans
from stockroom.common.testing import (
    BalanceRequest,
    FaultInjector,
    FaultProxy,
    Ledger,
    balance_callable,
)

from .conftest import ServeFactory, SpanRecorder

BREAKER = BreakerPolicy(window_size=10, minimum_calls=5, open_duration_s=0.3, half_open_probes=2)
POLICY = Policy(retry=None, breaker=BREAKER)


async def test_the_breaker_opens_and_then_fails_fast_without_calling(
    serve: ServeFactory, span_recorder: SpanRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    faults = FaultInjector()
    faults.fail_all(errors.Unavailable("database down"))
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, POLICY, telemetry=span_recorder.telemetry) as channel,
    ):
        for _ in range(BREAKER.minimum_calls):
            with pytest.raises(errors.Unavailable):
                await balance_callable(channel)(BalanceRequest())
        span_recorder.exporter.clear()  # keep only the span of the call that fails fast
        calls_before = faults.calls
        with pytest.raises(errors.Unavailable) as raised:
            await balance_callable(channel)(BalanceRequest())
        breaker = downstream_of(channel).breaker

    assert faults.calls == calls_before  # failed fast: the server never saw it
    assert raised.value.reason == CIRCUIT_OPEN
    assert raised.value.metadata == {"target": address, "state": "open"}
    assert raised.value.retry_after_s is not None
    assert 0 < raised.value.retry_after_s <= 0.3
    assert breaker.state is BreakerState.OPEN
    assert breaker.rejected_calls == 1
    (rejected,) = span_recorder.client_span().events
    assert rejected.name == spans.EVENT_BREAKER_REJECTED
    assert rejected.attributes == {spans.BREAKER_TARGET: address, spans.BREAKER_STATE: "open"}
    opened = [r for r in caplog.records if r.getMessage() == "circuit breaker open"]
    assert opened
    assert opened[0].levelno == logging.WARNING
    assert opened[0].target == address  # type: ignore[attr-defined]


async def test_the_breaker_recovers_through_half_open_probes(serve: ServeFactory) -> None:
    changes: list[StateChange] = []
    faults = FaultInjector()
    faults.fail_all(errors.Internal("bug in the downstream"))
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, POLICY) as channel,
    ):
        breaker = downstream_of(channel).breaker
        breaker.on_state_change.add(changes.append)
        for _ in range(BREAKER.minimum_calls):
            with pytest.raises(errors.Internal):
                await balance_callable(channel)(BalanceRequest())
        faults.heal()
        await asyncio.sleep(BREAKER.open_duration_s)
        for _ in range(BREAKER.half_open_probes):
            await balance_callable(channel)(BalanceRequest())

    assert breaker.state is BreakerState.CLOSED
    assert [c.current for c in changes] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


async def test_a_storm_of_caller_mistakes_leaves_the_breaker_closed(
    serve: ServeFactory,
) -> None:
    faults = FaultInjector()
    faults.fail_all(errors.InvalidArgument("bad request"))
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, POLICY) as channel,
    ):
        for _ in range(3 * BREAKER.window_size):
            with pytest.raises(errors.InvalidArgument):
                await balance_callable(channel)(BalanceRequest())
        breaker = downstream_of(channel).breaker

    assert breaker.state is BreakerState.CLOSED
    assert faults.calls == 3 * BREAKER.window_size


async def test_an_unreachable_downstream_opens_the_breaker_and_its_return_closes_it(
    serve: ServeFactory,
) -> None:
    async with (
        serve(Ledger().registration()) as address,
        FaultProxy(address) as proxy,
        connect(proxy.address, POLICY) as channel,
    ):
        breaker = downstream_of(channel).breaker
        proxy.cut()
        for _ in range(BREAKER.minimum_calls):
            with pytest.raises(errors.Unavailable):
                await balance_callable(channel)(BalanceRequest(), timeout=1)
        connections_when_open = proxy.connections_total
        with pytest.raises(errors.Unavailable) as fast:
            await balance_callable(channel)(BalanceRequest())
        assert fast.value.reason == CIRCUIT_OPEN
        assert proxy.connections_total == connections_when_open

        proxy.restore()
        await asyncio.sleep(BREAKER.open_duration_s)
        # grpc reconnects with backoff after refused connections: probe until it is back.
        for _ in range(50):
            if breaker.state is BreakerState.CLOSED:
                break
            try:
                await balance_callable(channel)(BalanceRequest(), timeout=1, wait_for_ready=True)
            except (errors.Unavailable, errors.DeadlineExceeded):
                await asyncio.sleep(0.1)

    assert breaker.state is BreakerState.CLOSED


async def test_metrics_can_find_every_live_downstream(serve: ServeFactory) -> None:
    async with serve(Ledger().registration()) as address, connect(address, POLICY) as channel:
        downstream = downstream_of(channel)

        assert downstream in live_downstreams()
        assert downstream.target == address
        assert downstream.budget.tokens == RetryPolicy().budget_max_tokens
