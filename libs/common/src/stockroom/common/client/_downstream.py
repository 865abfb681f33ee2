"""What a client process knows about one downstream: its breaker and its retry budget.

``connect`` makes one ``Downstream`` per channel (open one channel per
downstream and share it, as gRPC intends). Metrics find every live one with
``live_downstreams()`` and ``on_downstream_created``, and read plain values
(``breaker.state``, ``breaker.stats()``, ``budget.tokens``) or subscribe to
their listeners, without this library knowing about metrics.
"""

from __future__ import annotations

import logging
import weakref

import grpc

from stockroom.common.client import _spans as spans
from stockroom.common.client._breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    StateChange,
)
from stockroom.common.client._breaker_interceptor import CircuitBreakerInterceptor
from stockroom.common.client._budget import RetryBudget
from stockroom.common.client._deadlines import deadline_interceptors
from stockroom.common.client._listeners import Listeners
from stockroom.common.client._policy import Policy, RetryPolicy
from stockroom.common.client._retries import RetryInterceptor
from stockroom.common.client._typed_errors import typed_error_interceptors

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.client")


class Downstream:
    """The resilience state for calls to ``target`` under ``policy``."""

    def __init__(self, target: str, policy: Policy) -> None:
        self.target = target
        self.policy = policy
        retry = policy.retry or RetryPolicy()
        self.budget = RetryBudget(retry.budget_max_tokens, retry.budget_token_ratio)
        self.breaker = CircuitBreaker(policy.breaker or BreakerPolicy(), name=target)
        self.breaker.on_state_change.add(_announce)

    def interceptors(self) -> list[grpc.aio.ClientInterceptor]:
        """The chain, outermost first: deadline, retries, breaker (per attempt), typed errors."""
        chain: list[grpc.aio.ClientInterceptor] = [*deadline_interceptors(self.policy)]
        if self.policy.retry is not None:
            chain.append(RetryInterceptor(self.policy, self.budget, target=self.target))
        if self.policy.breaker is not None:
            chain.append(CircuitBreakerInterceptor(self.breaker))
        return [*chain, *typed_error_interceptors()]

    def __repr__(self) -> str:
        return (
            f"Downstream({self.target!r}, breaker={self.breaker.state.value}, "
            f"budget_tokens={self.budget.tokens:.1f})"
        )


def _announce(change: StateChange) -> None:
    """Log and trace every breaker transition (it happens inside the call that caused it)."""
    level = logging.WARNING if change.current is BreakerState.OPEN else logging.INFO
    logger.log(
        level,
        "circuit breaker %s",
        change.current.value,
        extra={
            "target": change.name,
            "previous": change.previous.value,
            "state": change.current.value,
            "window_calls": change.stats.calls,
            "failure_rate": round(change.stats.failure_rate, 3),
            "slow_call_rate": round(change.stats.slow_call_rate, 3),
        },
    )
    spans.add_event(
        spans.EVENT_BREAKER_TRANSITION,
        {
            spans.BREAKER_TARGET: change.name,
            spans.BREAKER_PREVIOUS_STATE: change.previous.value,
            spans.BREAKER_STATE: change.current.value,
        },
    )


_live: weakref.WeakSet[Downstream] = weakref.WeakSet()
_by_channel: weakref.WeakKeyDictionary[grpc.aio.Channel, Downstream] = weakref.WeakKeyDictionary()
on_downstream_created: Listeners[Downstream] = Listeners()


def register(channel: grpc.aio.Channel, downstream: Downstream) -> None:
    _live.add(downstream)
    _by_channel[channel] = downstream
    on_downstream_created.emit(downstream)


def live_downstreams() -> list[Downstream]:
    """Every downstream whose channel is still referenced, for metrics to read."""
    return list(_live)


def downstream_of(channel: grpc.aio.Channel) -> Downstream:
    """The breaker and budget behind a channel made by ``connect``."""
    return _by_channel[channel]
