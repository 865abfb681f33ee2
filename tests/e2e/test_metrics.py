"""Metrics leave both processes over OTLP, and over a Prometheus endpoint when asked."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest

from stockroom.common.telemetry import _names as names
from stockroom.common.testing import OtlpReceiver, ReceivedPoint

from .conftest import exporting_to, quote, service, set_price


def scrape(port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode()).splitlines()


@pytest.mark.slow
async def test_rpc_resilience_and_pool_metrics_reach_the_collector_and_prometheus(
    receiver: OtlpReceiver, tmp_path: Path, unused_tcp_port_factory: pytest.FixtureDef[int]
) -> None:
    ports = [unused_tcp_port_factory() for _ in range(3)]  # type: ignore[operator]
    inventory_port, pricing_port, prometheus_port = ports
    otel = exporting_to(receiver)
    async with (
        service(
            "inventory",
            inventory_port,
            {**otel, "INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'inv.db'}"},
            tmp_path,
        ) as inventory,
        service(
            "pricing",
            pricing_port,
            {
                **otel,
                "PRICING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'pricing.db'}",
                "PRICING_INVENTORY_TARGET": inventory.address,
                "PRICING_PROMETHEUS_PORT": str(prometheus_port),
            },
            tmp_path,
        ) as pricing,
    ):
        await set_price(pricing.address)
        await quote(pricing.address)

        def point(service: str, metric: str, **attributes: object) -> ReceivedPoint | None:
            for p in reversed(receiver.points(metric)):
                if p.service == service and attributes.items() <= p.attributes.items():
                    return p
            return None

        async def received(service: str, metric: str, **attributes: object) -> ReceivedPoint:
            return await receiver.wait_for(
                lambda: point(service, metric, **attributes), timeout_s=10
            )

        quote_duration = await received(
            "pricing", names.RPC_SERVER_DURATION, **{names.RPC_METHOD: "Quote"}
        )
        served = await received(
            "inventory", names.RPC_SERVER_DURATION, **{names.RPC_METHOD: "CheckAvailability"}
        )
        called = await received(
            "pricing", names.RPC_CLIENT_DURATION, **{names.RPC_METHOD: "CheckAvailability"}
        )
        attempts = await received(
            "pricing", names.RPC_CLIENT_ATTEMPTS, **{names.RPC_METHOD: "CheckAvailability"}
        )
        target = {names.TARGET: inventory.address}
        breaker = await received("pricing", names.BREAKER_STATE_GAUGE, **target)
        tokens = await received("pricing", names.RETRY_BUDGET_TOKENS, **target)
        serving = await received("inventory", names.SERVER_SERVING)
        in_flight = await received("pricing", names.SERVER_IN_FLIGHT)
        pool = await received("inventory", names.DB_CLIENT_CONNECTIONS_USAGE, state="idle")
        held = await received("inventory", "stockroom.inventory.reservations.held")
        availability_batch = await received(
            "inventory", names.BATCH_SIZE, **{names.BATCH_NAME: "inventory.availability"}
        )
        quotes_batch = await received(
            "pricing", names.BATCH_DURATION, **{names.BATCH_NAME: "pricing.quotes"}
        )
        prometheus = await asyncio.to_thread(scrape, prometheus_port)

    assert quote_duration.count == 1
    assert quote_duration.unit == "ms"
    assert quote_duration.attributes[names.RPC_SERVICE] == "stockroom.pricing.v1.PricingService"
    assert quote_duration.attributes[names.RPC_GRPC_STATUS_CODE] == 0
    assert served.count == 1
    assert called.count == 1
    assert (attempts.value, attempts.attributes[names.RETRY]) == (1, False)
    assert breaker.value == 0  # closed
    assert tokens.value == 10
    assert serving.value == 1
    assert in_flight.value == 0
    assert (pool.value or 0) >= 1  # the connection inventory keeps for its readiness checks
    assert (held.value, held.unit) == (0, "{reservation}")  # set by the expiry sweeper
    quote_count = [
        line
        for line in prometheus
        if line.startswith("rpc_server_duration_milliseconds_count{")
        and 'rpc_method="Quote"' in line
    ]
    assert len(quote_count) == 1
    assert quote_count[0].endswith(" 1.0")
    assert any(line.startswith("stockroom_breaker_state{") for line in prometheus)
    # The quote's availability read and its insert each went through a group commit.
    assert (availability_batch.count, availability_batch.total) == (1, 1)
    assert (quotes_batch.count, quotes_batch.attributes[names.BATCH_OUTCOME]) == (1, "ok")
    assert any(
        line.startswith("stockroom_batch_size_count{")
        and 'stockroom_batch_name="pricing.quotes"' in line
        and line.endswith(" 1.0")
        for line in prometheus
    )
    assert any(
        line.startswith("target_info{") and 'service_name="pricing"' in line for line in prometheus
    )
