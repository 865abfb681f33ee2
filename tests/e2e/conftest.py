"""Both services as real processes, configured only by environment variables, exporting to
an OTLP receiver that runs in the test: what an operator's collector would get."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.type import money_pb2

from stockroom.cli.processes import ServiceProcess, start_service, wait_until_serving
from stockroom.common.client import connect
from stockroom.common.testing import PATIENT_POLICY, OtlpReceiver
from stockroom.pricing.v1 import pricing_pb2, pricing_pb2_grpc

QUOTE = "stockroom.pricing.v1.PricingService/Quote"
CHECK_AVAILABILITY = "stockroom.inventory.v1.InventoryService/CheckAvailability"
CART = pricing_pb2.QuoteRequest(
    currency_code="USD", lines=[pricing_pb2.CartLine(sku="MUG", quantity=2)]
)


def exporting_to(receiver: OtlpReceiver) -> dict[str, str]:
    """The standard OTEL_* settings of a deployment, with short batching for the test."""
    return {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
    }


@dataclass
class RunningService:
    name: str
    address: str
    process: ServiceProcess
    log_path: Path

    def log(self) -> list[dict[str, Any]]:
        """The JSON lines the service wrote (grpc's own C-core lines are not JSON)."""
        lines = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines


@asynccontextmanager
async def service(
    name: str, port: int, env: Mapping[str, str], tmp_path: Path
) -> AsyncIterator[RunningService]:
    """``python -m stockroom.<name>`` with ``env``, until the block ends (then SIGTERM)."""
    prefix = name.upper()
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as log:
        process = await start_service(
            name,
            f"127.0.0.1:{port}",
            {f"{prefix}_PORT": str(port), **env},
            log=log.fileno(),
        )
    running = RunningService(name, process.address, process, log_path)
    try:
        await wait_until_serving(process)
        yield running
    finally:
        await process.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    async with OtlpReceiver() as started:
        yield started


async def set_price(pricing_address: str) -> None:
    """What the quote needs: a price for MUG. Inventory holds none of it (no catalog entry
    needed): it answers 0 available, which is an answer, so the call is still traced."""
    async with connect(pricing_address, PATIENT_POLICY) as pricing:
        await pricing_pb2_grpc.PricingServiceStub(pricing).SetPrice(
            pricing_pb2.SetPriceRequest(
                sku="MUG", unit_price=money_pb2.Money(currency_code="USD", units=12)
            )
        )


async def quote(pricing_address: str) -> pricing_pb2.QuoteResponse:
    async with connect(pricing_address, PATIENT_POLICY) as channel:
        return await pricing_pb2_grpc.PricingServiceStub(channel).Quote(CART)
