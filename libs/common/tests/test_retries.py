"""Retries: only retryable codes, only safe methods, budgeted, honouring pushback,
visible on the span, and never applying a mutation twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from stockroom.common import errors
from stockroom.common.client import (
    ATTEMPT_METADATA,
    MethodPolicy,
    Policy,
    RetryPolicy,
    connect,
    downstream_of,
)
from stockroom.common.client import _spans as spans
from stockroom.common.errors import StockroomError
from stockroom.common.server import AroundCallInterceptor, Context
from stockroom.common.testing import LEDGER_APPEND as APPEND
from stockroom.common.testing import (
    AppendRequest,
    BalanceRequest,
    FaultInjector,
    FaultProxy,
    Ledger,
    append_callable,
    balance_callable,
)

from .conftest import ServeFactory, SpanRecorder

# Fast backoff so tests spend no time sleeping; the budget is the default one.
FAST = Policy(retry=RetryPolicy(initial_backoff_s=0.001, max_backoff_s=0.002))


async def test_an_idempotent_read_is_retried_until_it_succeeds(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    ledger, faults = Ledger(), FaultInjector()
    faults.fail_next(2, errors.Unavailable("flaky"))
    async with (
        serve(ledger.registration(), interceptors=[faults]) as address,
        connect(address, FAST, telemetry=span_recorder.telemetry) as channel,
    ):
        response = await balance_callable(channel)(BalanceRequest())

    assert response.balance == 0
    assert faults.calls == 3
    call = span_recorder.client_span()  # one span for the call, every attempt on it
    retries = [e for e in call.events if e.name == spans.EVENT_RETRY]
    assert [e.attributes[spans.ATTEMPT] for e in retries] == [1, 2]  # type: ignore[index]
    assert {e.attributes[spans.RETRY_REASON] for e in retries} == {"UNAVAILABLE/UNAVAILABLE"}  # type: ignore[index]
    assert call.attributes[spans.ATTEMPT] == 3  # type: ignore[index]


@pytest.mark.parametrize(
    "error",
    [
        errors.InvalidArgument("bad"),
        errors.DeadlineExceeded("slow"),
        errors.Cancelled("gone"),
        errors.FailedPrecondition("no stock"),
        errors.Internal("bug"),
        errors.Aborted("conflict"),
        errors.ResourceExhausted("quota, no RetryInfo"),
    ],
    ids=lambda e: e.code,
)
async def test_errors_that_are_not_retryable_are_never_retried(
    serve: ServeFactory, error: StockroomError
) -> None:
    faults = FaultInjector()
    faults.fail_next(1, error)
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, FAST) as channel,
    ):
        with pytest.raises(type(error)):
            await balance_callable(channel)(BalanceRequest())

    assert faults.calls == 1


async def test_a_mutation_without_a_request_id_is_not_retried(serve: ServeFactory) -> None:
    faults = FaultInjector()
    faults.fail_next(1, errors.Unavailable("flaky"))
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, FAST) as channel,
    ):
        with pytest.raises(errors.Unavailable):
            await append_callable(channel)(AppendRequest(amount=5))

    assert faults.calls == 1


async def test_a_mutation_declared_idempotent_by_policy_is_retried(serve: ServeFactory) -> None:
    faults = FaultInjector()
    faults.fail_next(1, errors.Unavailable("flaky"))
    policy = Policy(retry=FAST.retry, methods={APPEND: MethodPolicy(idempotent=True)})
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, policy) as channel,
    ):
        response = await append_callable(channel)(AppendRequest(amount=5))

    assert response.balance == 5
    assert faults.calls == 2


async def test_a_retried_mutation_whose_answer_was_lost_is_applied_once(
    serve: ServeFactory,
) -> None:
    ledger = Ledger()
    async with (
        serve(ledger.registration()) as address,
        FaultProxy(address) as proxy,
        connect(proxy.address, FAST) as channel,
    ):
        await balance_callable(channel)(BalanceRequest())  # connected before the fault
        proxy.lose_responses(1)
        response = await append_callable(channel)(AppendRequest(request_id="r-1", amount=5))

    assert proxy.responses_lost == 1
    assert ledger.appends_received == 2  # the server saw it twice ...
    assert ledger.balance == 5  # ... and applied it once
    assert response.balance == 5


async def test_a_lost_answer_to_a_mutation_without_request_id_surfaces_as_unavailable(
    serve: ServeFactory,
) -> None:
    ledger = Ledger()
    async with (
        serve(ledger.registration()) as address,
        FaultProxy(address) as proxy,
        connect(proxy.address, FAST) as channel,
    ):
        await balance_callable(channel)(BalanceRequest())
        proxy.lose_responses(1)
        with pytest.raises(errors.Unavailable):
            await append_callable(channel)(AppendRequest(amount=5))

    assert ledger.appends_received == 1  # not retried: a retry would have applied it twice
    assert ledger.balance == 5


async def test_server_pushback_sets_the_pause_before_the_retry(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    faults = FaultInjector()
    faults.fail_next(1, errors.ResourceExhausted("busy", retry_after_s=0.25))
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, FAST, telemetry=span_recorder.telemetry) as channel,
    ):
        await balance_callable(channel)(BalanceRequest())

    assert faults.calls == 2
    (retry,) = [e for e in span_recorder.client_span().events if e.name == spans.EVENT_RETRY]
    assert retry.attributes[spans.RETRY_BACKOFF_MS] == 250  # type: ignore[index]
    assert retry.attributes[spans.RETRY_PUSHBACK] is True  # type: ignore[index]


async def test_a_pushback_beyond_the_deadline_is_not_waited_for(serve: ServeFactory) -> None:
    faults = FaultInjector()
    faults.fail_next(1, errors.Unavailable("come back later", retry_after_s=60.0))
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, FAST) as channel,
    ):
        with pytest.raises(errors.Unavailable) as raised:
            await balance_callable(channel)(BalanceRequest(), timeout=3.0)

    assert faults.calls == 1
    assert raised.value.retry_after_s == 60.0  # the caller still learns when to come back


class AttemptLog(AroundCallInterceptor):
    """Records the attempt number each call arrived with."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        metadata = dict(context.invocation_metadata() or ())
        self.attempts.append(str(metadata.get(ATTEMPT_METADATA, "first")))
        yield


async def test_retries_carry_their_attempt_number_to_the_server(serve: ServeFactory) -> None:
    log, faults = AttemptLog(), FaultInjector()
    faults.fail_next(2, errors.Unavailable("flaky"))
    async with (
        serve(Ledger().registration(), interceptors=[log, faults]) as address,
        connect(address, FAST) as channel,
    ):
        await balance_callable(channel)(BalanceRequest())

    assert log.attempts == ["first", "2", "3"]


async def test_the_retry_budget_stops_retries_in_an_outage(
    serve: ServeFactory, span_recorder: SpanRecorder
) -> None:
    faults = FaultInjector()
    faults.fail_all(errors.Unavailable("down"))
    calls = 20
    no_breaker = Policy(retry=FAST.retry, breaker=None)  # so every call reaches the server
    async with (
        serve(Ledger().registration(), interceptors=[faults]) as address,
        connect(address, no_breaker, telemetry=span_recorder.telemetry) as channel,
    ):
        budget = downstream_of(channel).budget
        for _ in range(calls):
            with pytest.raises(errors.Unavailable):
                await balance_callable(channel)(BalanceRequest())

    retries = faults.calls - calls
    # Without a budget: 20 calls x 3 attempts = 60. With gRFC A6's 10 tokens, retries stop
    # once half are spent: 2 on the first call, 1 on the second, none after.
    assert retries == 3
    assert budget.tokens == 0
    assert budget.retries_denied == calls - 1
    stopped = [
        e.attributes[spans.RETRY_STOPPED]  # type: ignore[index]
        for span in span_recorder.exporter.get_finished_spans()
        for e in span.events
        if e.name == spans.EVENT_RETRY_STOPPED
    ]
    assert stopped.count("budget_exhausted") == calls - 1
