"""The first inventory RPCs over real gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stockroom.common.client import connect
from stockroom.common.config import ServerConfig
from stockroom.common.database import migrate
from stockroom.common.errors import InvalidArgument
from stockroom.common.testing.servers import serving
from stockroom.inventory.app import MIGRATIONS, build_server
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc


@pytest.fixture
async def inventory(database_url: str) -> AsyncIterator[pb_grpc.InventoryServiceAsyncStub]:
    await migrate(MIGRATIONS, database_url)
    config = ServerConfig(service_name="inventory", port=0, database_url=database_url)
    async with serving(build_server(config)) as address, connect(address) as channel:
        yield pb_grpc.InventoryServiceStub(channel)


async def test_received_stock_is_available(inventory: pb_grpc.InventoryServiceAsyncStub) -> None:
    await inventory.ReceiveStock(
        pb.ReceiveStockRequest(sku="SKU-1", location_id="WH-1", quantity=5, reference="PO-1")
    )
    await inventory.ReceiveStock(
        pb.ReceiveStockRequest(sku="SKU-1", location_id="WH-2", quantity=3, reference="PO-2")
    )

    response = await inventory.CheckAvailability(
        pb.CheckAvailabilityRequest(
            lines=[
                pb.AvailabilityLine(sku="SKU-1", quantity=8),
                pb.AvailabilityLine(sku="NONE", quantity=1),
            ]
        )
    )

    assert [(line.sku, line.available, line.satisfiable) for line in response.lines] == [
        ("SKU-1", 8, True),
        ("NONE", 0, False),
    ]


async def test_bad_lines_get_invalid_argument_with_every_violation(
    inventory: pb_grpc.InventoryServiceAsyncStub,
) -> None:
    request = pb.CheckAvailabilityRequest(
        lines=[pb.AvailabilityLine(sku="", quantity=1), pb.AvailabilityLine(sku="A", quantity=0)]
    )

    with pytest.raises(InvalidArgument) as raised:
        await inventory.CheckAvailability(request)

    assert raised.value.reason == "INVALID_REQUEST"
    assert {(v.field, v.reason) for v in raised.value.field_violations} == {
        ("lines[0].sku", "REQUIRED"),
        ("lines[1].quantity", "NOT_POSITIVE"),
    }
