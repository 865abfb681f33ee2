"""Quotes made at the same time share calls to inventory (BatchCheckAvailability), and each
still gets the answer its cart would get alone: both services as real processes on
PostgreSQL, pricing's counters read from its Prometheus endpoint."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from pathlib import Path

import pytest
from google.type import money_pb2

from stockroom.common.client import connect
from stockroom.common.testing import PATIENT_POLICY, temporary_database
from stockroom.common.testing.pytest_plugin import require_postgres
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from stockroom.pricing.v1 import pricing_pb2, pricing_pb2_grpc

from .conftest import service

ON_HAND = 5
ROUNDS = 5  # rounds of concurrent quotes at most, until some were gathered
QUOTES_PER_ROUND = 40


def gathered_checks(prometheus_port: int) -> float:
    """pricing's ``stockroom.pricing.availability.checks`` with mode="gathered"."""
    url = f"http://127.0.0.1:{prometheus_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        lines = response.read().decode().splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("stockroom_pricing_availability_checks") and 'mode="gathered"' in line
    )


async def stock_and_prices(inventory: str, pricing: str) -> None:
    async with connect(inventory, PATIENT_POLICY) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        for sku in ("MUG", "CUP"):
            await stub.CreateItem(
                inventory_pb2.CreateItemRequest(
                    item=inventory_pb2.Item(sku=sku, display_name=sku.title()),
                    request_id=str(uuid.uuid4()),
                )
            )
        await stub.CreateLocation(
            inventory_pb2.CreateLocationRequest(
                location=inventory_pb2.Location(
                    location_id="WH-1",
                    display_name="Warehouse 1",
                    kind=inventory_pb2.LOCATION_KIND_WAREHOUSE,
                ),
                request_id=str(uuid.uuid4()),
            )
        )
        await stub.ReceiveStock(
            inventory_pb2.ReceiveStockRequest(
                request_id=str(uuid.uuid4()), sku="MUG", location_id="WH-1", quantity=ON_HAND
            )
        )
    async with connect(pricing, PATIENT_POLICY) as channel:
        prices = pricing_pb2_grpc.PricingServiceStub(channel)
        for sku in ("MUG", "CUP"):
            await prices.SetPrice(
                pricing_pb2.SetPriceRequest(
                    sku=sku, unit_price=money_pb2.Money(currency_code="USD", units=3)
                )
            )


@pytest.mark.slow
@pytest.mark.postgres
async def test_quotes_made_together_share_calls_and_each_gets_its_own_answer(
    tmp_path: Path, unused_tcp_port_factory: pytest.FixtureDef[int]
) -> None:
    await require_postgres()
    ports = [unused_tcp_port_factory() for _ in range(3)]  # type: ignore[operator]
    inventory_port, pricing_port, prometheus_port = ports
    async with (
        temporary_database() as inventory_db,
        temporary_database() as pricing_db,
        service(
            "inventory", inventory_port, {"INVENTORY_DATABASE_URL": inventory_db}, tmp_path
        ) as inventory,
        service(
            "pricing",
            pricing_port,
            {
                "PRICING_DATABASE_URL": pricing_db,
                "PRICING_INVENTORY_TARGET": inventory.address,
                "PRICING_PROMETHEUS_PORT": str(prometheus_port),
            },
            tmp_path,
        ) as pricing,
    ):
        await stock_and_prices(inventory.address, pricing.address)
        async with connect(pricing.address, PATIENT_POLICY) as channel:
            stub = pricing_pb2_grpc.PricingServiceStub(channel)

            async def quote(sku: str, quantity: int) -> pricing_pb2.QuoteResponse:
                line = pricing_pb2.CartLine(sku=sku, quantity=quantity)
                return await stub.Quote(
                    pricing_pb2.QuoteRequest(currency_code="USD", lines=[line]), timeout=30
                )

            # Carts of MUG (1 to 10, 5 in stock) and of CUP (none in stock), interleaved:
            # an answer that reached the wrong quote would name the wrong SKU.
            carts = [
                ("MUG", 1 + i % (2 * ON_HAND)) if i % 2 == 0 else ("CUP", 1)
                for i in range(QUOTES_PER_ROUND)
            ]
            answered: list[tuple[tuple[str, int], pricing_pb2.QuoteResponse]] = []
            for _ in range(ROUNDS):
                quotes = await asyncio.gather(*(quote(*cart) for cart in carts))
                answered += zip(carts, quotes, strict=True)
                if gathered_checks(prometheus_port) > 0:
                    break
            gathered = gathered_checks(prometheus_port)

    assert gathered > 0  # some quotes shared a BatchCheckAvailability
    for (sku, quantity), answer in answered:
        # Each cart as if alone: up to ON_HAND mugs are in stock for every quote at once.
        in_stock = sku == "MUG" and quantity <= ON_HAND
        assert answer.availability_reason == ""
        assert [line.availability for line in answer.lines] == [
            pricing_pb2.AVAILABILITY_IN_STOCK if in_stock else pricing_pb2.AVAILABILITY_INSUFFICIENT
        ], (sku, quantity)
