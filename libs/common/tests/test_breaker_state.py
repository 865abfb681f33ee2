"""The breaker's state machine, on a fake clock: when it opens, how it recovers."""

from __future__ import annotations

import pytest

from stockroom.common.client import BreakerPolicy, BreakerState, StateChange
from stockroom.common.client._breaker import CircuitBreaker, Permit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = BreakerPolicy(
    window_size=10,
    minimum_calls=5,
    failure_rate_threshold=0.5,
    slow_call_duration_s=1.0,
    slow_call_rate_threshold=0.8,
    open_duration_s=5.0,
    half_open_probes=2,
)


def call(breaker: CircuitBreaker, code: str = "OK", duration_s: float = 0.01) -> Permit:
    permit = breaker.acquire()
    assert permit is not None
    breaker.record(permit, code, duration_s)
    return permit


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(POLICY, name="inventory", clock=clock)


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(POLICY.minimum_calls):
        call(breaker, "UNAVAILABLE")
    assert breaker.state is BreakerState.OPEN


def test_failures_below_the_minimum_number_of_calls_keep_it_closed(
    breaker: CircuitBreaker,
) -> None:
    for _ in range(POLICY.minimum_calls - 1):
        call(breaker, "UNAVAILABLE")

    assert breaker.state is BreakerState.CLOSED


def test_it_opens_when_the_failure_rate_reaches_the_threshold(breaker: CircuitBreaker) -> None:
    for code in ["OK", "OK", "OK", "UNAVAILABLE", "DEADLINE_EXCEEDED"]:
        call(breaker, code)
    before = breaker.state  # 2 of 5 failed

    call(breaker, "INTERNAL")  # 3 of 6

    assert (before, breaker.state) == (BreakerState.CLOSED, BreakerState.OPEN)


@pytest.mark.parametrize(
    "code",
    ["INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "ALREADY_EXISTS", "PERMISSION_DENIED"],
)
def test_a_callers_mistakes_never_open_it(breaker: CircuitBreaker, code: str) -> None:
    for _ in range(3 * POLICY.window_size):
        call(breaker, code)

    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    "code", ["UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "UNKNOWN", "RESOURCE_EXHAUSTED"]
)
def test_every_infrastructure_failure_counts(breaker: CircuitBreaker, code: str) -> None:
    for _ in range(POLICY.minimum_calls):
        call(breaker, code)

    assert breaker.state is BreakerState.OPEN


def test_slow_successes_open_it_at_the_slow_call_rate(breaker: CircuitBreaker) -> None:
    call(breaker, "OK", 0.01)
    for _ in range(4):
        call(breaker, "OK", 1.5)
    assert breaker.state is BreakerState.OPEN  # 4 of 5 slow = 0.8


def test_old_outcomes_slide_out_of_a_count_window(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        call(breaker, "UNAVAILABLE")
    for _ in range(POLICY.window_size):
        call(breaker, "OK")
    call(breaker, "UNAVAILABLE")

    assert breaker.stats().failures == 1
    assert breaker.state is BreakerState.CLOSED


def test_a_time_window_forgets_outcomes_older_than_its_span(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        BreakerPolicy(window="time", window_size=10, minimum_calls=5), clock=clock
    )
    for _ in range(4):
        call(breaker, "UNAVAILABLE")
    clock.now += 11
    call(breaker, "UNAVAILABLE")

    assert breaker.stats().calls == 1
    assert breaker.state is BreakerState.CLOSED


def test_an_open_breaker_rejects_calls_and_says_when_it_will_probe(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    trip(breaker)
    clock.now += 2

    assert breaker.acquire() is None
    assert breaker.rejected_calls == 1
    assert breaker.retry_after_s() == pytest.approx(3.0)


def test_after_the_open_duration_it_lets_a_limited_number_of_probes_through(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    trip(breaker)
    clock.now += POLICY.open_duration_s

    probes = [breaker.acquire() for _ in range(POLICY.half_open_probes + 1)]

    assert breaker.state is BreakerState.HALF_OPEN
    assert all(p is not None and p.probe for p in probes[:-1])
    assert probes[-1] is None


def test_successful_probes_close_it_with_a_fresh_window(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    trip(breaker)
    clock.now += POLICY.open_duration_s
    for _ in range(POLICY.half_open_probes):
        call(breaker, "OK")

    assert breaker.state is BreakerState.CLOSED
    assert breaker.stats().calls == 0


def test_a_failed_probe_opens_it_again(breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker)
    clock.now += POLICY.open_duration_s
    call(breaker, "OK")
    call(breaker, "UNAVAILABLE")

    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after_s() == pytest.approx(POLICY.open_duration_s)


def test_a_cancelled_probe_frees_its_slot(breaker: CircuitBreaker, clock: FakeClock) -> None:
    trip(breaker)
    clock.now += POLICY.open_duration_s
    permits = [breaker.acquire() for _ in range(POLICY.half_open_probes)]
    assert breaker.acquire() is None

    breaker.release(permits[0])  # type: ignore[arg-type]

    assert breaker.acquire() is not None


def test_outcomes_of_calls_let_through_before_it_opened_are_ignored(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    slow_call = breaker.acquire()
    assert slow_call is not None
    trip(breaker)
    clock.now += POLICY.open_duration_s
    assert breaker.state is BreakerState.HALF_OPEN

    breaker.record(slow_call, "UNAVAILABLE", 9.0)  # finishes late: judged by a bygone state

    assert breaker.state is BreakerState.HALF_OPEN


def test_listeners_hear_every_transition(breaker: CircuitBreaker, clock: FakeClock) -> None:
    changes: list[StateChange] = []
    breaker.on_state_change.add(changes.append)
    trip(breaker)
    clock.now += POLICY.open_duration_s
    for _ in range(POLICY.half_open_probes):
        call(breaker, "OK")

    assert [(c.previous, c.current) for c in changes] == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]
    assert changes[0].name == "inventory"
    assert changes[0].stats.failure_rate == 1.0


def test_a_failing_listener_does_not_break_the_breaker(breaker: CircuitBreaker) -> None:
    def broken(change: StateChange) -> None:
        raise RuntimeError("metrics backend down")

    breaker.on_state_change.add(broken)
    trip(breaker)

    assert breaker.state is BreakerState.OPEN
