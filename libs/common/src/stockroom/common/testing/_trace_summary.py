"""A trace as a few lines of text: which service did what, for how long, and how it ended.

For a console with no tracing backend (``stockroom dev up``): the same tree
Jaeger draws, one span per line, children under their parent in start order::

    pricing    stockroom.pricing.v1.PricingService/Quote                  21.3 ms  OK
    pricing    ├─ stockroom.inventory.v1.InventoryService/CheckAvail...   12.9 ms  OK  attempt 1
    inventory  │  └─ stockroom.inventory.v1.InventoryService/CheckAv...    4.9 ms  OK
    inventory  │     └─ SELECT inventory                                    0.8 ms  OK
    pricing    └─ INSERT pricing                                            0.3 ms  OK
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import grpc

from stockroom.common.client import _spans as resilience
from stockroom.common.telemetry import _names as names
from stockroom.common.testing._otlp_receiver import ReceivedSpan

_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
MAX_NAME = 72


def complete_trace(received: Sequence[ReceivedSpan], root_name: str) -> list[ReceivedSpan] | None:
    """The latest trace whose root span is ``root_name``, once every RPC it made has been
    answered by a server span (which another process exports later); None until then."""
    roots = [s for s in received if s.name == root_name and not s.parent_span_id]
    if not roots:
        return None
    trace = [s for s in received if s.trace_id == roots[-1].trace_id]
    parents = {s.parent_span_id for s in trace}
    calls = [s for s in trace if s.kind == "CLIENT" and names.RPC_SYSTEM in s.attributes]
    return trace if all(call.span_id in parents for call in calls) else None


def render_trace(trace: Sequence[ReceivedSpan]) -> list[str]:
    """One line per span of one trace, as a tree; spans whose parent is missing are roots."""
    ids = {span.span_id for span in trace}
    children: dict[str, list[ReceivedSpan]] = defaultdict(list)
    for span in trace:
        children[span.parent_span_id if span.parent_span_id in ids else ""].append(span)
    rows: list[tuple[str, str, str, str]] = []

    def visit(span: ReceivedSpan, prefix: str, branch: str) -> None:
        label = f"{prefix}{branch}{span.name}"
        if len(label) > MAX_NAME:
            label = label[: MAX_NAME - 1] + "…"
        rows.append((span.service, label, f"{span.duration_ms:.1f} ms", outcome(span)))
        kids = sorted(children[span.span_id], key=lambda s: s.start_ns)
        inner = prefix + ("" if not branch else "   " if branch == "└─ " else "│  ")
        for index, kid in enumerate(kids):
            visit(kid, inner, "└─ " if index == len(kids) - 1 else "├─ ")

    for root in sorted(children[""], key=lambda s: s.start_ns):
        visit(root, "", "")
    if not rows:
        return []
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return [
        f"{service:<{widths[0]}}  {label:<{widths[1]}}  {duration:>{widths[2]}}  {status}".rstrip()
        for service, label, duration, status in rows
    ]


def outcome(span: ReceivedSpan) -> str:
    """The status an operator cares about, with the resilience facts of a client call."""
    code = span.attributes.get(names.RPC_GRPC_STATUS_CODE)
    if isinstance(code, int):
        status = _CODE_NAMES.get(code, str(code))
        reason = span.attributes.get(names.ERROR_REASON)
        if reason and reason != status:
            status += f" {reason}"
    else:
        status = "ERROR" if span.status == "ERROR" else "OK"
    facts = []
    if (attempt := span.attributes.get(resilience.ATTEMPT)) is not None:
        facts.append(f"attempt {attempt}")
    if (breaker := span.attributes.get(resilience.BREAKER_STATE)) is not None:
        facts.append(f"breaker {breaker}")
    retries = sum(1 for event in span.events if event.name == resilience.EVENT_RETRY)
    if retries:
        facts.append(f"{retries} {'retry' if retries == 1 else 'retries'}")
    return f"{status}  {', '.join(facts)}" if facts else status
