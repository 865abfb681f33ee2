"""Calling another service: ``connect(target, policy)`` gives a channel that calls safely.

Every unary call on the channel gets a deadline (its own, or what is left of the
one being served), is retried only when that is safe and affordable, goes
through the downstream's circuit breaker, and fails with the same
``StockroomError`` classes the server raised. Streams get deadlines and typed
errors; they are never retried. Needs neither the ``db`` nor the
``telemetry`` extra.
"""

from stockroom.common.client._breaker import BreakerPolicy, BreakerState, StateChange
from stockroom.common.client._budget import RetryBudget
from stockroom.common.client._connect import CHANNEL_OPTIONS, channel_credentials, connect
from stockroom.common.client._deadlines import deadline_scope, time_remaining_s
from stockroom.common.client._downstream import Downstream, downstream_of, live_downstreams
from stockroom.common.client._policy import MethodPolicy, Policy, RetryPolicy
from stockroom.common.client._retries import ATTEMPT_METADATA, CIRCUIT_OPEN

__all__ = [
    "ATTEMPT_METADATA",
    "CHANNEL_OPTIONS",
    "CIRCUIT_OPEN",
    "BreakerPolicy",
    "BreakerState",
    "Downstream",
    "MethodPolicy",
    "Policy",
    "RetryBudget",
    "RetryPolicy",
    "StateChange",
    "channel_credentials",
    "connect",
    "deadline_scope",
    "downstream_of",
    "live_downstreams",
    "time_remaining_s",
]
