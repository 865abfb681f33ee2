"""Request ids: a retried mutation is applied once, whichever replica answers, across restarts."""

from __future__ import annotations

import asyncio

import pytest

from stockroom.common.db import migrate
from stockroom.common.errors import FailedPrecondition, InvalidArgument
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.testing import Inventory, ManualClock, request_id, running_inventory
from stockroom.inventory.v1 import inventory_pb2 as pb


async def test_a_repeated_receipt_returns_the_first_answer_and_adds_nothing(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    request = pb.ReceiveStockRequest(
        sku="MUG", location_id="WH-1", quantity=5, request_id=request_id()
    )

    first = await inventory.stub.ReceiveStock(request)
    again = await inventory.stub.ReceiveStock(request)

    assert again == first
    assert (await inventory.level("MUG", "WH-1")).on_hand == 5


async def test_a_request_id_reused_for_another_payload_is_refused(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    shared = request_id()
    await inventory.stub.ReceiveStock(
        pb.ReceiveStockRequest(sku="MUG", location_id="WH-1", quantity=5, request_id=shared)
    )

    with pytest.raises(InvalidArgument) as raised:
        await inventory.stub.ReceiveStock(
            pb.ReceiveStockRequest(sku="MUG", location_id="WH-1", quantity=6, request_id=shared)
        )

    assert raised.value.reason == "REQUEST_ID_REUSED"
    assert [v.field for v in raised.value.field_violations] == ["request_id"]
    assert (await inventory.level("MUG", "WH-1")).on_hand == 5


async def test_concurrent_duplicates_of_a_reservation_hold_stock_once(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)
    request = pb.ReserveStockRequest(
        lines=[pb.ReserveStockLine(sku="MUG", quantity=4)], request_id=request_id()
    )

    answers = await asyncio.gather(*(inventory.stub.ReserveStock(request) for _ in range(8)))

    assert len({a.reservation.reservation_id for a in answers}) == 1
    assert (await inventory.level("MUG", "WH-1")).reserved == 4


async def test_a_failed_request_can_be_retried_with_its_request_id(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    request = pb.ReserveStockRequest(
        lines=[pb.ReserveStockLine(sku="MUG", quantity=4)], request_id=request_id()
    )
    with pytest.raises(FailedPrecondition):
        await inventory.stub.ReserveStock(request)
    await inventory.receive("MUG", "WH-1", 4)

    response = await inventory.stub.ReserveStock(request)

    assert response.reservation.state == pb.RESERVATION_STATE_ACTIVE


async def test_a_replay_after_a_restart_still_returns_the_first_answer(sqlite_url: str) -> None:
    await migrate(MIGRATIONS, sqlite_url)
    request = pb.ReleaseReservationRequest(request_id=request_id())
    async with running_inventory(sqlite_url, ManualClock()) as before:
        await before.register(["MUG"], ["WH-1"])
        await before.receive("MUG", "WH-1", 3)
        reservation = await before.reserve({"MUG": 3})
        request.reservation_id = reservation.reservation_id
        first = await before.stub.ReleaseReservation(request)
        await before.reserve({"MUG": 3})

    async with running_inventory(sqlite_url, ManualClock()) as after:
        again = await after.stub.ReleaseReservation(request)
        level = await after.level("MUG", "WH-1")

    assert again == first
    assert level.reserved == 3
