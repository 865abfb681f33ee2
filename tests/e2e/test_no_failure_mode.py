"""Telemetry adds no way to fail: with the collector unreachable or the SDK turned off,
quotes are served and the services still stop cleanly on SIGTERM."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from stockroom.pricing.v1 import pricing_pb2

from .conftest import quote, service, set_price


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("telemetry", ["collector-unreachable", "sdk-disabled"])
async def test_quotes_are_served_and_services_stop_cleanly_whatever_happens_to_telemetry(
    telemetry: str, tmp_path: Path, unused_tcp_port_factory: pytest.FixtureDef[int]
) -> None:
    setting, logged = {
        "collector-unreachable": (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed_port()}"},
            "telemetry not flushed: the collector did not take it in time",
        ),
        "sdk-disabled": ({"OTEL_SDK_DISABLED": "true"}, "telemetry disabled (OTEL_SDK_DISABLED)"),
    }[telemetry]
    inventory_port, pricing_port = unused_tcp_port_factory(), unused_tcp_port_factory()  # type: ignore[operator]
    env = {"OTEL_SDK_DISABLED": "false", "OTEL_BSP_SCHEDULE_DELAY": "50", **setting}
    async with (
        service(
            "inventory",
            inventory_port,
            {**env, "INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'inv.db'}"},
            tmp_path,
        ) as inventory,
        service(
            "pricing",
            pricing_port,
            {
                **env,
                "PRICING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'pricing.db'}",
                "PRICING_INVENTORY_TARGET": inventory.address,
            },
            tmp_path,
        ) as pricing,
    ):
        await set_price(pricing.address)
        answer = await quote(pricing.address)
        # SIGTERM, then SIGKILL only if draining and flushing took longer than the Kubernetes
        # grace period's share left after DRAIN_GRACE_S.
        exit_code = await pricing.process.stop(timeout_s=10)

    assert (
        answer.lines[0].availability == pricing_pb2.AVAILABILITY_INSUFFICIENT
    )  # inventory answered
    assert exit_code == 0
    assert logged in [line["msg"] for line in pricing.log()]
