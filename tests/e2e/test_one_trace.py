"""One quote, one trace: pricing's server span, its call to inventory (attempts and breaker
on it), inventory's server span and the SQL of both services, all under one trace id, as a
collector receives them from two processes configured only by OTEL_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockroom.common.client import _spans as spans
from stockroom.common.telemetry import _names as names
from stockroom.common.testing import OtlpReceiver, ReceivedSpan, temporary_database
from stockroom.common.testing.pytest_plugin import require_postgres
from stockroom.pricing.v1 import pricing_pb2

from .conftest import CHECK_AVAILABILITY, QUOTE, exporting_to, quote, service, set_price


def complete_quote_trace(receiver: OtlpReceiver) -> list[ReceivedSpan] | None:
    """The quote's trace once inventory's server span and statements have arrived too (they
    may come in separate exports: a short line's answer takes more than one statement)."""
    received = receiver.spans()
    roots = [s for s in received if s.name == QUOTE and not s.parent_span_id]
    if not roots:
        return None
    trace = [s for s in received if s.trace_id == roots[0].trace_id]
    inventory_sql = [
        s for s in trace if s.service == "inventory" and s.scope == names.DATABASE_SCOPE
    ]
    served = [
        s
        for s in trace
        if (s.service, s.kind, s.name) == ("inventory", "SERVER", CHECK_AVAILABILITY)
    ]
    return trace if inventory_sql and served else None


def only(trace: list[ReceivedSpan], service: str, kind: str, name: str) -> ReceivedSpan:
    (found,) = [s for s in trace if (s.service, s.kind, s.name) == (service, kind, name)]
    return found


@pytest.mark.slow
@pytest.mark.postgres
async def test_a_quote_is_one_trace_from_pricing_through_inventory_to_both_databases(
    receiver: OtlpReceiver, tmp_path: Path, unused_tcp_port_factory: pytest.FixtureDef[int]
) -> None:
    await require_postgres()
    inventory_port, pricing_port = unused_tcp_port_factory(), unused_tcp_port_factory()  # type: ignore[operator]
    otel = exporting_to(receiver)
    async with (
        temporary_database() as inventory_db,
        temporary_database() as pricing_db,
        service(
            "inventory", inventory_port, {**otel, "INVENTORY_DATABASE_URL": inventory_db}, tmp_path
        ) as inventory,
        service(
            "pricing",
            pricing_port,
            {
                **otel,
                "PRICING_DATABASE_URL": pricing_db,
                "PRICING_INVENTORY_TARGET": inventory.address,
            },
            tmp_path,
        ) as pricing,
    ):
        await set_price(pricing.address)
        answer = await quote(pricing.address)
        trace = await receiver.wait_for(lambda: complete_quote_trace(receiver), timeout_s=10)

    assert (
        answer.lines[0].availability == pricing_pb2.AVAILABILITY_INSUFFICIENT
    )  # inventory answered
    root = only(trace, "pricing", "SERVER", QUOTE)
    call = only(trace, "pricing", "CLIENT", CHECK_AVAILABILITY)
    served = only(trace, "inventory", "SERVER", CHECK_AVAILABILITY)
    pricing_sql = [s for s in trace if s.service == "pricing" and s.scope == names.DATABASE_SCOPE]
    inventory_sql = [
        s for s in trace if s.service == "inventory" and s.scope == names.DATABASE_SCOPE
    ]
    # The chain: pricing server -> client call -> inventory server -> inventory's SQL.
    assert call.parent_span_id == root.span_id
    assert served.parent_span_id == call.span_id
    assert inventory_sql
    assert {s.parent_span_id for s in inventory_sql} == {served.span_id}
    assert pricing_sql
    assert {s.parent_span_id for s in pricing_sql} == {root.span_id}
    assert {s.attributes["db.system"] for s in pricing_sql + inventory_sql} == {"postgresql"}
    # What each span says.
    assert root.attributes[names.RPC_GRPC_STATUS_CODE] == 0
    assert root.resource["service.namespace"] == "stockroom"
    assert root.resource["deployment.environment.name"] == "e2e"  # OTEL_RESOURCE_ATTRIBUTES
    assert served.resource["service.name"] == "inventory"
    assert call.attributes[names.RPC_SYSTEM] == "grpc"
    assert call.attributes[names.RPC_SERVICE] == "stockroom.inventory.v1.InventoryService"
    assert call.attributes[names.RPC_METHOD] == "CheckAvailability"
    assert call.attributes[spans.ATTEMPT] == 1
    assert call.attributes[spans.BREAKER_STATE] == "closed"
    assert call.attributes[spans.DEADLINE_SOURCE] in {"caller", "propagated"}
    assert call.attributes[names.SERVER_PORT] == int(inventory.address.rsplit(":", 1)[1])
    assert served.attributes[names.RPC_GRPC_STATUS_CODE] == 0
    assert {s.status for s in trace} == {"UNSET"}
