"""Pricing quotes a cart and asks a real inventory server whether it can be served."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from google.type import money_pb2

from stockroom.common.client import connect
from stockroom.common.db import migrate
from stockroom.common.errors import InvalidArgument, NotFound
from stockroom.common.server import GrpcServer, ServerConfig
from stockroom.common.testing import PATIENT_POLICY, serving
from stockroom.pricing import app as pricing_app
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc


async def start_pricing(database_url: str, inventory_target: str) -> GrpcServer:
    await migrate(pricing_app.MIGRATIONS, database_url)
    server = ServerConfig(service_name="pricing", port=0, database_url=database_url)
    return await pricing_app.build_server(pricing_app.PricingSettings(server, inventory_target))


@pytest.fixture
async def pricing(
    database_url: str, inventory_target: str
) -> AsyncIterator[pb_grpc.PricingServiceAsyncStub]:
    async with (
        serving(start_pricing(database_url, inventory_target)) as address,
        connect(address, PATIENT_POLICY) as channel,
    ):
        stub = pb_grpc.PricingServiceStub(channel)
        await stub.SetPrice(
            pb.SetPriceRequest(
                sku="MUG",
                unit_price=money_pb2.Money(currency_code="USD", units=12, nanos=500_000_000),
            )
        )
        yield stub


async def test_quote_prices_lines_and_reports_availability(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    response = await pricing.Quote(
        pb.QuoteRequest(currency_code="USD", lines=[pb.CartLine(sku="MUG", quantity=3)])
    )

    (line,) = response.lines
    assert (line.total.units, line.total.nanos) == (37, 500_000_000)
    assert (response.subtotal.units, response.subtotal.nanos) == (37, 500_000_000)
    assert line.availability == pb.AVAILABILITY_INSUFFICIENT
    assert line.available_quantity == 2


async def test_quote_without_inventory_still_prices_with_availability_unknown(
    database_url: str, unused_tcp_port: int
) -> None:
    nowhere = f"127.0.0.1:{unused_tcp_port}"
    async with (
        serving(start_pricing(database_url, nowhere)) as address,
        connect(address, PATIENT_POLICY) as channel,
    ):
        stub = pb_grpc.PricingServiceStub(channel)
        price = money_pb2.Money(currency_code="JPY", units=800)
        await stub.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=price))
        response = await stub.Quote(
            pb.QuoteRequest(currency_code="JPY", lines=[pb.CartLine(sku="MUG", quantity=2)])
        )

    assert response.subtotal.units == 1600
    assert response.lines[0].availability == pb.AVAILABILITY_UNKNOWN
    assert "UNAVAILABLE" in response.availability_note


async def test_unpriced_sku_is_not_found(pricing: pb_grpc.PricingServiceAsyncStub) -> None:
    with pytest.raises(NotFound) as raised:
        await pricing.Quote(
            pb.QuoteRequest(currency_code="USD", lines=[pb.CartLine(sku="NOPE", quantity=1)])
        )
    assert raised.value.reason == "PRICE_NOT_FOUND"


async def test_unknown_currency_is_invalid(pricing: pb_grpc.PricingServiceAsyncStub) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await pricing.Quote(
            pb.QuoteRequest(currency_code="XXX", lines=[pb.CartLine(sku="MUG", quantity=1)])
        )
    assert raised.value.field_violations[0].field == "currency_code"
