"""A circuit breaker for one downstream: stop calling a dependency that is failing.

Outcomes go into a sliding window (the last N calls, or the calls of the last
N seconds). Once the window holds ``minimum_calls`` and the share of failed
or slow calls reaches its threshold, the breaker opens: calls fail at once,
without touching the network, for ``open_duration_s``. Then it lets
``half_open_probes`` calls through; if they all succeed it closes, if one
fails it opens again. Only infrastructure failures count (the default
``failure_codes``): a caller's mistake (INVALID_ARGUMENT, NOT_FOUND,
FAILED_PRECONDITION, ...) says nothing about the dependency's health.

This module is plain Python (codes are ``grpc.StatusCode`` names) so the
state machine is tested without a server and with a fake clock.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from stockroom.common.client._listeners import Listeners

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.client")

# The codes that mean "the dependency (or the way to it) is unwell".
INFRASTRUCTURE_FAILURES = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "UNKNOWN", "RESOURCE_EXHAUSTED"}
)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens and how it recovers.

    The defaults suit a service-to-service dependency called tens of times a
    second: 50 calls are enough to tell a sick dependency from bad luck, 20
    is the least we judge on, and 5 s open is long enough to take the
    pressure off and short enough that a recovered dependency is used again
    quickly (Hystrix's default sleep window).
    """

    window: Literal["count", "time"] = "count"
    # Calls (window="count") or seconds (window="time") the window covers.
    window_size: int = 50
    minimum_calls: int = 20
    failure_rate_threshold: float = 0.5
    # A call slower than this counts as slow, whatever its outcome.
    slow_call_duration_s: float = 1.0
    slow_call_rate_threshold: float = 0.8
    open_duration_s: float = 5.0
    half_open_probes: int = 3
    failure_codes: frozenset[str] = INFRASTRUCTURE_FAILURES

    def __post_init__(self) -> None:
        if self.window_size < 1 or self.minimum_calls < 1 or self.half_open_probes < 1:
            raise ValueError("window_size, minimum_calls and half_open_probes must be >= 1")
        for rate in (self.failure_rate_threshold, self.slow_call_rate_threshold):
            if not 0 < rate <= 1:
                raise ValueError("rate thresholds must be in (0, 1]")


@dataclass(frozen=True)
class WindowStats:
    calls: int
    failures: int
    slow_calls: int

    @property
    def failure_rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0

    @property
    def slow_call_rate(self) -> float:
        return self.slow_calls / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class StateChange:
    """One transition, as listeners (logs, spans, metrics) receive it."""

    name: str
    previous: BreakerState
    current: BreakerState
    stats: WindowStats


class _CountWindow:
    """The outcomes of the last ``size`` calls."""

    def __init__(self, size: int) -> None:
        self._outcomes: deque[tuple[bool, bool]] = deque(maxlen=size)

    def record(self, failed: bool, slow: bool) -> None:
        self._outcomes.append((failed, slow))

    def stats(self) -> WindowStats:
        return WindowStats(
            len(self._outcomes),
            sum(failed for failed, _ in self._outcomes),
            sum(slow for _, slow in self._outcomes),
        )

    def clear(self) -> None:
        self._outcomes.clear()


class _TimeWindow:
    """The outcomes of the last ``seconds`` seconds, in one-second buckets."""

    def __init__(self, seconds: int, clock: Callable[[], float]) -> None:
        self._seconds = seconds
        self._clock = clock
        # [second, calls, failures, slow calls], oldest first.
        self._buckets: deque[list[int]] = deque()

    def _expire(self) -> int:
        now = int(self._clock())
        while self._buckets and self._buckets[0][0] <= now - self._seconds:
            self._buckets.popleft()
        return now

    def record(self, failed: bool, slow: bool) -> None:
        now = self._expire()
        if not self._buckets or self._buckets[-1][0] != now:
            self._buckets.append([now, 0, 0, 0])
        bucket = self._buckets[-1]
        bucket[1] += 1
        bucket[2] += failed
        bucket[3] += slow

    def stats(self) -> WindowStats:
        self._expire()
        return WindowStats(
            sum(b[1] for b in self._buckets),
            sum(b[2] for b in self._buckets),
            sum(b[3] for b in self._buckets),
        )

    def clear(self) -> None:
        self._buckets.clear()


@dataclass(frozen=True)
class Permit:
    """Leave to make one call; its outcome counts only in the state it was granted in."""

    generation: int
    probe: bool


class CircuitBreaker:
    """The breaker state machine. Not thread-safe: one event loop."""

    def __init__(
        self,
        policy: BreakerPolicy | None = None,
        *,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self.name = name
        self._clock = clock
        self._window = (
            _CountWindow(self.policy.window_size)
            if self.policy.window == "count"
            else _TimeWindow(self.policy.window_size, clock)
        )
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self.rejected_calls = 0
        self.on_state_change: Listeners[StateChange] = Listeners()

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker turns half-open once its open time is over."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.policy.open_duration_s
        ):
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    def stats(self) -> WindowStats:
        return self._window.stats()

    def retry_after_s(self) -> float:
        """How long until an open breaker lets probes through (0 when it is not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.policy.open_duration_s - self._clock())

    def acquire(self) -> Permit | None:
        """Leave for one call, or None: fail fast without calling."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Permit(self._generation, probe=False)
        if (
            state is BreakerState.HALF_OPEN
            and self._probes_in_flight < self.policy.half_open_probes
        ):
            self._probes_in_flight += 1
            return Permit(self._generation, probe=True)
        self.rejected_calls += 1
        return None

    def release(self, permit: Permit) -> None:
        """The call ended without an outcome worth judging (the caller cancelled it)."""
        if permit.probe and permit.generation == self._generation:
            self._probes_in_flight -= 1

    def record(self, permit: Permit, code: str, duration_s: float) -> None:
        """The outcome of a call made with ``permit``: its status code name ("OK" on success)."""
        if permit.generation != self._generation:
            return  # granted before the last transition: judged by a state that is gone
        failed = code in self.policy.failure_codes
        slow = duration_s >= self.policy.slow_call_duration_s
        if permit.probe:
            self._probes_in_flight -= 1
            if failed or slow:
                self._transition(BreakerState.OPEN)
                return
            self._probe_successes += 1
            if self._probe_successes >= self.policy.half_open_probes:
                self._transition(BreakerState.CLOSED)
            return
        self._window.record(failed, slow)
        stats = self._window.stats()
        if stats.calls >= self.policy.minimum_calls and (
            stats.failure_rate >= self.policy.failure_rate_threshold
            or stats.slow_call_rate >= self.policy.slow_call_rate_threshold
        ):
            self._transition(BreakerState.OPEN)

    def _transition(self, new_state: BreakerState) -> None:
        previous = self._state
        stats = self._window.stats()
        self._state = new_state
        self._generation += 1
        self._probes_in_flight = 0
        self._probe_successes = 0
        if new_state is BreakerState.OPEN:
            self._opened_at = self._clock()
        if new_state is BreakerState.CLOSED:
            self._window.clear()
        self.on_state_change.emit(StateChange(self.name, previous, new_state, stats))
