"""Pricing reaches an inventory that requires mTLS when given its CA and a client certificate."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.type import money_pb2

from stockroom.common.client import connect
from stockroom.common.db import migrate
from stockroom.common.server import ServerConfig
from stockroom.common.testing import PATIENT_POLICY, Pki, make_pki, serving
from stockroom.inventory import app as inventory_app
from stockroom.pricing import app as pricing_app
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

CART = pb.QuoteRequest(currency_code="USD", lines=[pb.CartLine(sku="MUG", quantity=1)])


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki", clients=["pricing"])


@pytest.fixture
async def inventory_requiring_mtls(tmp_path: Path, pki: Pki) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}"
    await migrate(inventory_app.MIGRATIONS, url)
    config = ServerConfig(
        service_name="inventory",
        port=0,
        database_url=url,
        tls_cert_file=str(pki.server.cert_file),
        tls_key_file=str(pki.server.key_file),
        tls_client_ca_file=str(pki.ca_file),
    )
    async with serving(
        inventory_app.build_server(inventory_app.InventorySettings(config))
    ) as address:
        yield address


async def quote_from_pricing(
    sqlite_url: str, config: pricing_app.PricingSettings
) -> pb.QuoteResponse:
    await migrate(pricing_app.MIGRATIONS, sqlite_url)
    async with (
        serving(pricing_app.build_server(config)) as address,
        connect(address, PATIENT_POLICY) as channel,
    ):
        stub = pb_grpc.PricingServiceStub(channel)
        await stub.SetPrice(
            pb.SetPriceRequest(
                sku="MUG",
                unit_price=money_pb2.Money(currency_code="USD", units=4),
                request_id=str(uuid.uuid4()),
            )
        )
        return await stub.Quote(CART)


async def test_a_client_certificate_gets_pricing_an_answer_from_inventory(
    sqlite_url: str, pki: Pki, inventory_requiring_mtls: str
) -> None:
    config = pricing_app.PricingSettings(
        ServerConfig(service_name="pricing", port=0, database_url=sqlite_url),
        inventory_requiring_mtls,
        inventory_tls_ca_file=str(pki.ca_file),
        inventory_tls_cert_file=str(pki.clients["pricing"].cert_file),
        inventory_tls_key_file=str(pki.clients["pricing"].key_file),
    )

    quote = await quote_from_pricing(sqlite_url, config)

    # Inventory answered (it has no MUG): availability is known, not UNKNOWN.
    assert quote.lines[0].availability == pb.AVAILABILITY_INSUFFICIENT
    assert quote.availability_reason == ""


async def test_without_a_client_certificate_inventory_refuses_and_availability_is_unknown(
    sqlite_url: str, pki: Pki, inventory_requiring_mtls: str
) -> None:
    config = pricing_app.PricingSettings(
        ServerConfig(service_name="pricing", port=0, database_url=sqlite_url),
        inventory_requiring_mtls,
        inventory_tls_ca_file=str(pki.ca_file),
    )

    quote = await quote_from_pricing(sqlite_url, config)

    assert quote.lines[0].availability == pb.AVAILABILITY_UNKNOWN
    assert quote.availability_reason == "UNAVAILABLE"


def test_inventory_tls_settings_come_from_the_environment() -> None:
    config = pricing_app.PricingSettings.from_env(
        {
            "PRICING_INVENTORY_TLS_CA_FILE": "/etc/stockroom/ca.pem",
            "PRICING_INVENTORY_TLS_CERT_FILE": "/etc/stockroom/pricing.pem",
            "PRICING_INVENTORY_TLS_KEY_FILE": "/etc/stockroom/pricing.key",
        }
    )

    assert (
        config.inventory_tls_ca_file,
        config.inventory_tls_cert_file,
        config.inventory_tls_key_file,
    ) == ("/etc/stockroom/ca.pem", "/etc/stockroom/pricing.pem", "/etc/stockroom/pricing.key")
