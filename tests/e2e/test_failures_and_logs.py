"""A quote while inventory is down: the retries are on the client span, the quote still
succeeds, and every log line written while handling it carries its trace and span ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockroom.common.client import _spans as spans
from stockroom.common.telemetry import _names as names
from stockroom.common.testing import OtlpReceiver, ReceivedSpan
from stockroom.pricing.v1 import pricing_pb2

from .conftest import CHECK_AVAILABILITY, QUOTE, exporting_to, quote, service, set_price

# Logged only while a quote is being handled: by the retry loop and by pricing's availability.
REQUEST_LOGGERS = {"stockroom.common.client", "stockroom.pricing.availability"}


def quote_trace(receiver: OtlpReceiver) -> list[ReceivedSpan] | None:
    received = receiver.spans()
    roots = [s for s in received if s.name == QUOTE and not s.parent_span_id]
    return [s for s in received if s.trace_id == roots[0].trace_id] if roots else None


@pytest.mark.slow
async def test_a_quote_with_inventory_down_shows_its_retries_and_its_log_lines_in_the_trace(
    receiver: OtlpReceiver, tmp_path: Path, unused_tcp_port_factory: pytest.FixtureDef[int]
) -> None:
    pricing_port, nobody_port = unused_tcp_port_factory(), unused_tcp_port_factory()  # type: ignore[operator]
    env = {
        **exporting_to(receiver),
        "PRICING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'pricing.db'}",
        "PRICING_INVENTORY_TARGET": f"127.0.0.1:{nobody_port}",  # nothing listens there
    }
    async with service("pricing", pricing_port, env, tmp_path) as pricing:
        await set_price(pricing.address)
        answer = await quote(pricing.address)
        trace = await receiver.wait_for(lambda: quote_trace(receiver), timeout_s=10)
    log = pricing.log()

    assert answer.lines[0].availability == pricing_pb2.AVAILABILITY_UNKNOWN
    (root,) = [s for s in trace if s.name == QUOTE]
    (call,) = [s for s in trace if s.name == CHECK_AVAILABILITY]
    assert root.status == "UNSET"  # the quote succeeded
    assert call.parent_span_id == root.span_id
    assert call.status == "ERROR"
    assert call.attributes[names.RPC_GRPC_STATUS_CODE] == 14  # UNAVAILABLE
    assert call.attributes[spans.ATTEMPT] == 3
    assert [e.name for e in call.events] == [
        spans.EVENT_RETRY,
        spans.EVENT_RETRY,
        spans.EVENT_RETRY_STOPPED,
    ]
    assert call.events[-1].attributes[spans.RETRY_STOPPED] == "attempts_exhausted"

    in_request = [line for line in log if line["logger"] in REQUEST_LOGGERS]
    assert [line["msg"] for line in in_request] == ["retrying", "retrying", "availability unknown"]
    span_ids = {s.span_id for s in trace}
    for line in in_request:
        assert line["trace_id"] == root.trace_id
        assert line["span_id"] in span_ids
    assert [line["span_id"] for line in in_request] == [call.span_id, call.span_id, root.span_id]
    # Lines written outside any request carry no trace.
    (serving,) = [line for line in log if line["msg"] == "serving"]
    assert "trace_id" not in serving
