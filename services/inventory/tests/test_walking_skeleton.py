"""The first inventory RPCs over real gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from stockroom.common.errors import InvalidArgument
from stockroom.inventory.testing import Inventory
from stockroom.inventory.v1 import inventory_pb2 as pb


async def test_received_stock_is_available(inventory: Inventory) -> None:
    await inventory.register(["SKU-1"], ["WH-1", "WH-2"])
    await inventory.receive("SKU-1", "WH-1", 5)
    await inventory.receive("SKU-1", "WH-2", 3)

    response = await inventory.stub.CheckAvailability(
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


async def test_bad_lines_get_invalid_argument_with_every_violation(inventory: Inventory) -> None:
    request = pb.CheckAvailabilityRequest(
        lines=[pb.AvailabilityLine(sku="", quantity=1), pb.AvailabilityLine(sku="A", quantity=0)]
    )

    with pytest.raises(InvalidArgument) as raised:
        await inventory.stub.CheckAvailability(request)

    assert raised.value.reason == "INVALID_REQUEST"
    assert {(v.field, v.reason) for v in raised.value.field_violations} == {
        ("lines[0].sku", "REQUIRED"),
        ("lines[1].quantity", "NOT_POSITIVE"),
    }
