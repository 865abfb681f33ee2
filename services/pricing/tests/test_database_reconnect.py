"""The first quote after pricing's database lost every connection succeeds: killed
backends cost a reconnect, not an error. The client here never retries."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from google.type import money_pb2
from sqlalchemy.engine import make_url

from stockroom.common.client import Policy, connect
from stockroom.common.db import migrate
from stockroom.common.server import ServerConfig
from stockroom.common.testing import serving
from stockroom.pricing import app
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

pytestmark = pytest.mark.postgres

NO_RETRIES = Policy(timeout_s=30.0, retry=None, breaker=None)


async def terminate_connections(url: str) -> int:
    """Terminate every backend connected to the database at ``url``; wait until they exit."""
    dsn = make_url(url).set(drivername="postgresql", database="postgres")
    admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        terminated = await admin.fetch(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            make_url(url).database,
        )
    finally:
        await admin.close()
    return len(terminated)


async def test_a_quote_after_every_backend_was_terminated_succeeds(
    postgres_url: str, inventory_target: str
) -> None:
    await migrate(app.MIGRATIONS, postgres_url)
    config = ServerConfig(service_name="pricing", port=0, database_url=postgres_url)
    async with (
        serving(app.build_server(app.PricingSettings(config, inventory_target))) as address,
        connect(address, NO_RETRIES) as channel,
    ):
        stub = pb_grpc.PricingServiceStub(channel)
        await stub.SetPrice(
            pb.SetPriceRequest(
                sku="TEE",
                unit_price=money_pb2.Money(currency_code="USD", units=12),
                request_id=str(uuid.uuid4()),
            )
        )
        cart = pb.QuoteRequest(currency_code="USD", lines=[pb.CartLine(sku="TEE", quantity=3)])
        await stub.Quote(cart)

        terminated = await terminate_connections(postgres_url)
        quote = await stub.Quote(cart)
        again = await stub.GetQuote(pb.GetQuoteRequest(quote_id=quote.quote_id))

    assert terminated >= 1
    assert (quote.total.units, quote.lines[0].availability) == (36, pb.AVAILABILITY_IN_STOCK)
    assert again.quote.quote_id == quote.quote_id
