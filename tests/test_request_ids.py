"""One request id is one request: whatever its spelling, and only for the caller that sent it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
from google.type import money_pb2

from stockroom.common.client import channel_credentials, connect
from stockroom.common.db import migrate
from stockroom.common.errors import InvalidArgument
from stockroom.common.server import ServerConfig
from stockroom.common.testing import PATIENT_POLICY, Pki, make_pki, serving
from stockroom.inventory import app as inventory_app
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc
from stockroom.pricing import app as pricing_app
from stockroom.pricing.v1 import pricing_pb2 as ppb
from stockroom.pricing.v1 import pricing_pb2_grpc as ppb_grpc


def credentials(pki: Pki, name: str) -> grpc.ChannelCredentials:
    pair = pki.clients[name]
    return channel_credentials(pki.ca_file, pair.cert_file, pair.key_file)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki", clients=["pricing", "checkout"])


@pytest.fixture
async def inventory(tmp_path: Path, pki: Pki) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}"
    await migrate(inventory_app.MIGRATIONS, url)
    config = ServerConfig(
        service_name="inventory",
        port=0,
        database_url=url,
        tls_cert_file=str(pki.server.cert_file),
        tls_key_file=str(pki.server.key_file),
        tls_client_ca_file=str(pki.ca_file),
        mutating_callers="pricing,checkout",
    )
    async with serving(
        inventory_app.build_server(inventory_app.InventorySettings(config))
    ) as address:
        async with connect(
            address, PATIENT_POLICY, credentials=credentials(pki, "pricing")
        ) as channel:
            stub = pb_grpc.InventoryServiceStub(channel)
            await stub.CreateLocation(
                pb.CreateLocationRequest(
                    location=pb.Location(location_id="WH-1", kind=pb.LOCATION_KIND_WAREHOUSE),
                    request_id=str(uuid.uuid4()),
                )
            )
            await stub.CreateItem(
                pb.CreateItemRequest(item=pb.Item(sku="MUG"), request_id=str(uuid.uuid4()))
            )
        yield address.replace("127.0.0.1", "localhost")


def receipt(request_id: str) -> pb.ReceiveStockRequest:
    return pb.ReceiveStockRequest(sku="MUG", location_id="WH-1", quantity=5, request_id=request_id)


async def test_one_uuid_in_upper_and_lower_case_is_one_request(inventory: str, pki: Pki) -> None:
    request_id = str(uuid.uuid4())
    async with connect(
        inventory, PATIENT_POLICY, credentials=credentials(pki, "pricing")
    ) as channel:
        stub = pb_grpc.InventoryServiceStub(channel)
        first = await stub.ReceiveStock(receipt(request_id.upper()))
        again = await stub.ReceiveStock(receipt(request_id.lower()))
        levels = await stub.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=["MUG"]))

    assert first.on_hand == again.on_hand == 5
    assert levels.skus[0].levels[0].on_hand == 5


SPELLINGS: dict[str, Callable[[uuid.UUID], str]] = {
    "urn": lambda u: f"urn:uuid:{u}",
    "braces": lambda u: f"{{{u}}}",
    "no hyphens": lambda u: u.hex,
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
async def test_other_spellings_of_a_uuid_are_refused(
    inventory: str, pki: Pki, spelling: str
) -> None:
    request_id = SPELLINGS[spelling](uuid.uuid4())
    async with connect(
        inventory, PATIENT_POLICY, credentials=credentials(pki, "pricing")
    ) as channel:
        with pytest.raises(InvalidArgument) as refused:
            await pb_grpc.InventoryServiceStub(channel).ReceiveStock(receipt(request_id))
    assert refused.value.field_violations[0].field == "request_id"


async def test_a_request_id_belongs_to_its_caller(inventory: str, pki: Pki) -> None:
    request_id = str(uuid.uuid4())
    reserve = pb.ReserveStockRequest(
        lines=[pb.ReserveStockLine(sku="MUG", quantity=1)], request_id=request_id
    )
    async with (
        connect(inventory, PATIENT_POLICY, credentials=credentials(pki, "pricing")) as as_pricing,
        connect(inventory, PATIENT_POLICY, credentials=credentials(pki, "checkout")) as as_checkout,
    ):
        pricing = pb_grpc.InventoryServiceStub(as_pricing)
        await pricing.ReceiveStock(receipt(str(uuid.uuid4())))
        mine = await pricing.ReserveStock(reserve)
        with pytest.raises(InvalidArgument) as replayed:
            await pb_grpc.InventoryServiceStub(as_checkout).ReserveStock(reserve)
        again = await pricing.ReserveStock(reserve)

    assert replayed.value.reason == "REQUEST_ID_REUSED"
    assert str(mine.reservation.reservation_id) not in str(replayed.value)
    assert again.reservation.reservation_id == mine.reservation.reservation_id


async def test_pricing_refuses_other_spellings_and_folds_case(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pricing.db'}"
    await migrate(pricing_app.MIGRATIONS, url)
    config = pricing_app.PricingSettings(
        ServerConfig(service_name="pricing", port=0, database_url=url), "127.0.0.1:1"
    )
    request_id = str(uuid.uuid4())
    price = money_pb2.Money(currency_code="USD", units=3)
    async with (
        serving(pricing_app.build_server(config)) as address,
        connect(address, PATIENT_POLICY) as channel,
    ):
        stub = ppb_grpc.PricingServiceStub(channel)
        upper = await stub.SetPrice(
            ppb.SetPriceRequest(sku="MUG", unit_price=price, request_id=request_id.upper())
        )
        lower = await stub.SetPrice(
            ppb.SetPriceRequest(sku="MUG", unit_price=price, request_id=request_id)
        )
        with pytest.raises(InvalidArgument):
            await stub.SetPrice(
                ppb.SetPriceRequest(
                    sku="MUG", unit_price=price, request_id=f"urn:uuid:{request_id}"
                )
            )

    assert upper.price.price_id == lower.price.price_id
