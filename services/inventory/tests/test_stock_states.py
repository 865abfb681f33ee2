"""Unsellable stock states: damaged and quality-control units per level, moved by MoveStock
with a reason, never available, every move in the ledger; reserved units never move."""

from __future__ import annotations

from typing import Any

import pytest

from stockroom.common.errors import FailedPrecondition, InvalidArgument
from stockroom.common.testing import eventually
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb


async def ledger_of(inventory: Inventory, count: int) -> list[pb.Movement]:
    """The ledger once it shows ``count`` entries (an entry is readable once every older
    transaction of the database has ended, a moment after its commit; bounded wait)."""
    entries: list[pb.Movement] = []

    async def shown() -> bool:
        page = await inventory.stub.ListMovements(pb.ListMovementsRequest(page_size=1000))
        entries[:] = page.movements
        return len(entries) >= count

    await eventually(shown, what=f"the ledger showing {count} entries")
    return entries


SELLABLE, DAMAGED, QC, GONE = (
    pb.STOCK_STATE_SELLABLE,
    pb.STOCK_STATE_DAMAGED,
    pb.STOCK_STATE_QUALITY_CONTROL,
    pb.STOCK_STATE_WRITTEN_OFF,
)


def move_request(
    source: Any, target: Any, quantity: int, *, sku: str = "MUG", rid: str = ""
) -> pb.MoveStockRequest:
    return pb.MoveStockRequest(
        sku=sku,
        location_id="WH-1",
        from_state=source,
        to_state=target,
        quantity=quantity,
        reason="INSPECTION",
        reference="QC-7",
        request_id=rid or request_id(),
    )


async def move(
    inventory: Inventory, source: Any, target: Any, quantity: int, **kwargs: str
) -> pb.MoveStockResponse:
    return await inventory.stub.MoveStock(move_request(source, target, quantity, **kwargs))


async def test_units_move_between_states_and_only_sellable_ones_are_available(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 20)

    damaged = await move(inventory, SELLABLE, DAMAGED, 5)
    held = await move(inventory, SELLABLE, QC, 4)
    passed = await move(inventory, QC, SELLABLE, 3)
    failed = await move(inventory, QC, DAMAGED, 1)
    written_off = await move(inventory, DAMAGED, GONE, 2)
    level = await inventory.level("MUG", "WH-1")
    check = await inventory.stub.CheckAvailability(
        pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku="MUG", quantity=15)])
    )
    stock = await inventory.stub.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=["MUG"]))

    assert [
        (m.movement.kind, m.movement.on_hand_delta, m.movement.damaged_delta)
        for m in (damaged, held, passed, failed, written_off)
    ] == [
        (pb.MOVEMENT_KIND_TO_DAMAGED, -5, 5),
        (pb.MOVEMENT_KIND_TO_QC, -4, 0),
        (pb.MOVEMENT_KIND_TO_SELLABLE, 3, 0),
        (pb.MOVEMENT_KIND_TO_DAMAGED, 0, 1),
        (pb.MOVEMENT_KIND_WRITE_OFF, 0, -2),
    ]
    assert [m.movement.quality_control_delta for m in (held, passed, failed)] == [4, -3, -1]
    assert (damaged.movement.reason, damaged.movement.reference) == ("INSPECTION", "QC-7")
    assert (level.on_hand, level.damaged, level.quality_control, level.available) == (14, 4, 0, 14)
    assert (check.lines[0].available, check.lines[0].satisfiable) == (14, False)
    assert (stock.skus[0].damaged, stock.skus[0].quality_control) == (4, 0)
    entries = await ledger_of(inventory, 6)
    assert len(entries) == 6
    assert sum(m.on_hand_delta for m in entries) == level.on_hand
    assert sum(m.damaged_delta for m in entries) == level.damaged
    assert sum(m.quality_control_delta for m in entries) == level.quality_control
    assert (entries[-1].level.damaged, entries[-1].level.on_hand) == (4, 14)


async def test_reserved_units_never_leave_the_sellable_state(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)
    await inventory.reserve({"MUG": 7})

    with pytest.raises(FailedPrecondition) as reserved:
        await move(inventory, SELLABLE, DAMAGED, 4)
    with pytest.raises(FailedPrecondition) as too_many:
        await move(inventory, SELLABLE, QC, 11)
    with pytest.raises(FailedPrecondition) as none_damaged:
        await move(inventory, DAMAGED, SELLABLE, 1)
    moved = await move(inventory, SELLABLE, DAMAGED, 3)

    assert reserved.value.reason == "STOCK_RESERVED"
    assert "7 of its 10 units are reserved" in reserved.value.message
    assert [v.subject for v in reserved.value.precondition_violations] == ["MUG"]
    assert too_many.value.reason == "INSUFFICIENT_STOCK"
    assert none_damaged.value.reason == "INSUFFICIENT_STOCK"
    assert (moved.level.on_hand, moved.level.reserved, moved.level.damaged) == (7, 7, 3)
    assert moved.level.available == 0


@pytest.mark.parametrize(
    ("source", "target", "field"),
    [
        (SELLABLE, SELLABLE, "to_state"),
        (SELLABLE, GONE, "to_state"),
        (QC, GONE, "to_state"),
        (GONE, SELLABLE, "from_state"),
        (pb.STOCK_STATE_UNSPECIFIED, DAMAGED, "from_state"),
        (DAMAGED, pb.STOCK_STATE_UNSPECIFIED, "to_state"),
        (DAMAGED, 99, "to_state"),
    ],
)
async def test_moves_between_states_that_make_no_sense_are_refused(
    inventory: Inventory, source: int, target: int, field: str
) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)

    with pytest.raises(InvalidArgument) as raised:
        await move(inventory, source, target, 1)

    assert (field, "INVALID_STATE") in {(v.field, v.reason) for v in raised.value.field_violations}
    assert (await inventory.level("MUG", "WH-1")).on_hand == 10


async def test_a_move_needs_a_reason(inventory: Inventory) -> None:
    request = move_request(SELLABLE, DAMAGED, 1)
    request.reason = " "

    with pytest.raises(InvalidArgument) as raised:
        await inventory.stub.MoveStock(request)

    assert ("reason", "REQUIRED") in {(v.field, v.reason) for v in raised.value.field_violations}


async def test_a_repeated_move_is_applied_once(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)
    rid = request_id()

    first = await move(inventory, SELLABLE, DAMAGED, 2, rid=rid)
    again = await move(inventory, SELLABLE, DAMAGED, 2, rid=rid)
    with pytest.raises(InvalidArgument) as other:
        await move(inventory, SELLABLE, DAMAGED, 3, rid=rid)

    assert again == first
    assert other.value.reason == "REQUEST_ID_REUSED"
    level = await inventory.level("MUG", "WH-1")
    assert (level.on_hand, level.damaged) == (8, 2)


async def test_an_empty_level_has_nothing_to_move(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])

    with pytest.raises(FailedPrecondition) as raised:
        await move(inventory, SELLABLE, DAMAGED, 1)

    assert raised.value.reason == "INSUFFICIENT_STOCK"
