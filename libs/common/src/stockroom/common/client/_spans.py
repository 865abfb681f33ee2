"""Resilience facts recorded on the current OpenTelemetry span, through the API only.

Without an SDK configured the current span is a no-op and these calls cost
next to nothing; once tracing is set up, retries, breaker decisions and
deadlines show up on the spans without this library changing.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

# Attribute and event names, in one place so dashboards and tests agree.
ATTEMPT = "stockroom.rpc.attempt"
RETRY_REASON = "stockroom.retry.reason"
RETRY_BACKOFF_MS = "stockroom.retry.backoff_ms"
RETRY_PUSHBACK = "stockroom.retry.pushback"
RETRY_STOPPED = "stockroom.retry.stopped"
BREAKER_TARGET = "stockroom.breaker.target"
BREAKER_STATE = "stockroom.breaker.state"
BREAKER_PREVIOUS_STATE = "stockroom.breaker.previous_state"
DEADLINE_TIMEOUT_MS = "stockroom.deadline.timeout_ms"
DEADLINE_SOURCE = "stockroom.deadline.source"
RPC_METHOD = "rpc.method"

EVENT_RETRY = "stockroom.retry"
EVENT_RETRY_STOPPED = "stockroom.retry.stopped"
EVENT_BREAKER_REJECTED = "stockroom.breaker.rejected"
EVENT_BREAKER_TRANSITION = "stockroom.breaker.transition"
EVENT_DEADLINE_REFUSED = "stockroom.deadline.refused"


def add_event(name: str, attributes: Mapping[str, AttributeValue]) -> None:
    trace.get_current_span().add_event(name, attributes=dict(attributes))


def set_attributes(attributes: Mapping[str, AttributeValue]) -> None:
    trace.get_current_span().set_attributes(dict(attributes))
