"""The console summary of a trace: the same tree a tracing UI draws, one line per span."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stockroom.common.client import _spans as spans
from stockroom.common.telemetry import _names as names
from stockroom.common.testing import ReceivedEvent, ReceivedSpan, render_trace

MS = 1_000_000


def span(
    service: str,
    name: str,
    span_id: str,
    parent: str,
    start_ms: int,
    end_ms: int,
    attributes: Mapping[str, Any] | None = None,
    *,
    events: tuple[ReceivedEvent, ...] = (),
    status: str = "UNSET",
) -> ReceivedSpan:
    return ReceivedSpan(
        service=service,
        name=name,
        kind="SERVER",
        trace_id="t" * 32,
        span_id=span_id,
        parent_span_id=parent,
        start_ns=start_ms * MS,
        end_ns=end_ms * MS,
        status=status,
        status_message="",
        attributes=attributes or {},
        events=events,
        resource={},
        scope="",
    )


def test_a_trace_renders_as_a_tree_with_durations_statuses_and_resilience_facts() -> None:
    code, reason = names.RPC_GRPC_STATUS_CODE, names.ERROR_REASON
    retry = ReceivedEvent(spans.EVENT_RETRY, {})
    trace = [
        span("inventory", "Check", "c", "b", 14, 16, {code: 0}),
        span("pricing", "INSERT pricing", "d", "a", 20, 21),
        span("pricing", "Quote", "a", "", 0, 25, {code: 0}),
        span(
            "pricing",
            "Check call",
            "b",
            "a",
            2,
            18,
            {code: 0, spans.ATTEMPT: 3, spans.BREAKER_STATE: "closed"},
            events=(retry, retry),
        ),
        span("inventory", "Check", "e", "b", 3, 4, {code: 14, reason: "DATABASE_UNAVAILABLE"}),
        span("inventory", "SELECT inventory", "f", "c", 15, 15, status="ERROR"),
    ]

    lines = render_trace(trace)

    assert lines == [
        "pricing    Quote                      25.0 ms  OK",
        "pricing    ├─ Check call              16.0 ms  OK  attempt 3, breaker closed, 2 retries",
        "inventory  │  ├─ Check                 1.0 ms  UNAVAILABLE DATABASE_UNAVAILABLE",
        "inventory  │  └─ Check                 2.0 ms  OK",
        "inventory  │     └─ SELECT inventory   0.0 ms  ERROR",
        "pricing    └─ INSERT pricing           1.0 ms  OK",
    ]
