"""A database outage, as callers and operators see it (PostgreSQL behind the fault proxy).

Pricing's database is cut, then blackholed: calls answer UNAVAILABLE with
RetryInfo (never INTERNAL, never a wait for the caller's whole deadline),
health turns NOT_SERVING, the log holds one WARNING when the outage starts and
one line when it ends (no traceback per request), and calls succeed again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.type import money_pb2

from stockroom.common.client import Policy, connect
from stockroom.common.db import migrate
from stockroom.common.errors import Unavailable
from stockroom.common.server import NOT_SERVING, SERVING, ServerConfig, check_health
from stockroom.common.testing import FaultProxy, serving, temporary_database
from stockroom.common.testing.pytest_plugin import require_postgres
from stockroom.pricing import app as pricing_app
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

pytestmark = pytest.mark.postgres
PRICE = pb.SetPriceRequest(sku="MUG", unit_price=money_pb2.Money(currency_code="USD", units=3))
# Generous: the point is that the database fault ends the call, not the caller's deadline.
CALL_TIMEOUT_S = 30.0


@dataclass
class Running:
    stub: pb_grpc.PricingServiceAsyncStub
    channel: grpc.aio.Channel
    database: FaultProxy


@pytest.fixture
async def pricing() -> AsyncIterator[Running]:
    await require_postgres()
    async with temporary_database() as url:
        await migrate(pricing_app.MIGRATIONS, url)
        host_port = url.split("@", 1)[1].split("/", 1)[0]
        async with FaultProxy(host_port) as proxy:
            proxied = url.replace(host_port, proxy.address)
            config = pricing_app.PricingSettings(
                ServerConfig(service_name="pricing", port=0, database_url=proxied), "127.0.0.1:1"
            )
            async with (
                serving(pricing_app.build_server(config)) as address,
                connect(address, Policy(retry=None, breaker=None)) as channel,
            ):
                stub = pb_grpc.PricingServiceStub(channel)
                await stub.SetPrice(PRICE, timeout=CALL_TIMEOUT_S)
                yield Running(stub, channel, proxy)


async def health_becomes(channel: grpc.aio.Channel, status: int) -> bool:
    for _ in range(500):  # bounded poll; the readiness check runs every 0.5 s
        if await check_health(channel) == status:
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.parametrize("fault", ["cut", "blackhole"])
async def test_a_database_outage_is_unavailable_with_retry_info_and_logged_once(
    pricing: Running, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    if fault == "cut":
        pricing.database.cut()
    else:
        pricing.database.blackhole = True
        pricing.database.drop_connections()

    failures: list[Unavailable] = []
    for _ in range(10):
        with pytest.raises(Unavailable) as failed:
            await pricing.stub.SetPrice(PRICE, timeout=CALL_TIMEOUT_S)
        failures.append(failed.value)
    not_serving = await health_becomes(pricing.channel, NOT_SERVING)

    pricing.database.blackhole = False
    pricing.database.restore()
    serving_again = await health_becomes(pricing.channel, SERVING)
    recovered = await pricing.stub.SetPrice(PRICE, timeout=CALL_TIMEOUT_S)

    assert {f.reason for f in failures} == {"DATABASE_UNAVAILABLE"}
    assert all(f.retry_after_s is not None for f in failures)
    assert (not_serving, serving_again) == (True, True)
    assert recovered.price.price_id
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("database unreachable: calls answer UNAVAILABLE until it is back") == 1
    assert messages.count("database reachable again") == 1
    assert not [r for r in caplog.records if r.exc_info], "no traceback per request"
