"""Pricing keeps quoting, within its caller's deadline, while inventory is slow or gone.

Real servers on loopback with the fault proxy between pricing and inventory:
the deadline a caller gives pricing bounds pricing's call to inventory
(propagation), and a dead inventory opens pricing's breaker for it instead of
costing every quote a failed call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.type import money_pb2

from stockroom.common.client import BreakerState, connect, live_downstreams
from stockroom.common.db import migrate
from stockroom.common.server import ServerConfig
from stockroom.common.testing import FaultProxy, serving
from stockroom.inventory import app as inventory_app
from stockroom.pricing import app as pricing_app
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

QUOTE = pb.QuoteRequest(currency_code="USD", lines=[pb.CartLine(sku="MUG", quantity=1)])


@pytest.fixture
async def inventory_behind_proxy(tmp_path: Path) -> AsyncIterator[FaultProxy]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}"
    await migrate(inventory_app.MIGRATIONS, url)
    config = ServerConfig(service_name="inventory", port=0, database_url=url)
    async with (
        serving(inventory_app.build_server(inventory_app.InventorySettings(config))) as address,
        FaultProxy(address) as proxy,
    ):
        yield proxy


@pytest.fixture
async def pricing(
    tmp_path: Path, inventory_behind_proxy: FaultProxy
) -> AsyncIterator[pb_grpc.PricingServiceAsyncStub]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pricing.db'}"
    await migrate(pricing_app.MIGRATIONS, url)
    config = pricing_app.PricingSettings(
        ServerConfig(service_name="pricing", port=0, database_url=url),
        inventory_behind_proxy.address,
    )
    async with (
        serving(pricing_app.build_server(config)) as address,
        connect(address) as channel,
    ):
        stub = pb_grpc.PricingServiceStub(channel)
        await stub.SetPrice(
            pb.SetPriceRequest(sku="MUG", unit_price=money_pb2.Money(currency_code="USD", units=3))
        )
        yield stub


async def test_a_slow_inventory_costs_a_quote_no_more_than_its_callers_deadline(
    pricing: pb_grpc.PricingServiceAsyncStub, inventory_behind_proxy: FaultProxy
) -> None:
    await pricing.Quote(QUOTE, timeout=5)  # connections warm
    inventory_behind_proxy.latency_s = 60.0

    # An answer at all proves the quote cost no more than its deadline (the
    # channel enforces it); 3 s leaves a loaded machine room for pricing's own work.
    response = await pricing.Quote(QUOTE, timeout=3.0)

    assert response.lines[0].availability == pb.AVAILABILITY_UNKNOWN
    assert response.subtotal.units == 3


async def test_a_dead_inventory_opens_pricings_breaker_and_quotes_go_on(
    pricing: pb_grpc.PricingServiceAsyncStub, inventory_behind_proxy: FaultProxy
) -> None:
    await pricing.Quote(QUOTE, timeout=5)
    (inventory,) = [d for d in live_downstreams() if d.target == inventory_behind_proxy.address]
    inventory_behind_proxy.cut()

    answers = [await pricing.Quote(QUOTE, timeout=2) for _ in range(30)]

    assert {a.lines[0].availability for a in answers} == {pb.AVAILABILITY_UNKNOWN}
    assert inventory.breaker.state is BreakerState.OPEN
    assert inventory.breaker.rejected_calls > 0
