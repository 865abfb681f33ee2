"""Kits: items made of components. Defined at creation (SetKitComponents replaces the list),
no stock of their own, availability derived from the components, reservations that hold
every component or none, and confirm/release/expiry through the components."""

from __future__ import annotations

from typing import Any

import pytest

from stockroom.common.errors import FailedPrecondition, InvalidArgument, NotFound
from stockroom.common.testing import eventually
from stockroom.inventory.domain.kits import flatten, kits_possible
from stockroom.inventory.domain.model import KitComponent
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb


async def create_kit(
    inventory: Inventory, sku: str, components: dict[str, int]
) -> pb.CreateItemResponse:
    return await inventory.stub.CreateItem(
        pb.CreateItemRequest(
            item=pb.Item(
                sku=sku,
                display_name=f"{sku} kit",
                components=[pb.KitComponent(sku=s, quantity=q) for s, q in components.items()],
            ),
            request_id=request_id(),
        )
    )


async def set_components(
    inventory: Inventory, sku: str, components: dict[str, int]
) -> pb.SetKitComponentsResponse:
    return await inventory.stub.SetKitComponents(
        pb.SetKitComponentsRequest(
            sku=sku,
            components=[pb.KitComponent(sku=s, quantity=q) for s, q in components.items()],
            request_id=request_id(),
        )
    )


async def available(inventory: Inventory, *skus: str) -> list[int]:
    """Each SKU's availability on its own: one call per SKU (the lines of one call are
    counted as one reservation would take them, each from what the lines before it leave)."""
    found = []
    for sku in skus:
        response = await inventory.stub.CheckAvailability(
            pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku=sku, quantity=1)])
        )
        found.append(response.lines[0].available)
    return found


def held(line: pb.ReservationLine) -> dict[str, list[tuple[str, int]]]:
    return {c.sku: [(a.location_id, a.quantity) for a in c.allocations] for c in line.components}


def test_a_kit_flattens_to_the_stocked_items_it_takes() -> None:
    definitions = {
        "GIFT": (KitComponent("MUG", 2), KitComponent("PAIR", 1), KitComponent("BOX", 1)),
        "PAIR": (KitComponent("MUG", 1), KitComponent("SPOON", 2)),
    }

    leaves = flatten("GIFT", definitions)

    assert leaves == (KitComponent("BOX", 1), KitComponent("MUG", 3), KitComponent("SPOON", 2))
    # Min over the components of floor(available / quantity); a shared MUG counts once per use.
    assert kits_possible(leaves, {"BOX": 10, "MUG": 10, "SPOON": 9}) == 3
    assert kits_possible(leaves, {"BOX": 10, "MUG": 10}) == 0


async def test_a_kit_is_defined_by_its_components_and_shown_with_them(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG", "SPOON"], ["WH-1"])

    created = await create_kit(inventory, "SET", {"SPOON": 2, "MUG": 1})
    got = await inventory.stub.GetItem(pb.GetItemRequest(sku="SET"))
    listed = await inventory.stub.ListItems(pb.ListItemsRequest())
    changed = await set_components(inventory, "SET", {"MUG": 2})
    again = await inventory.stub.GetItem(pb.GetItemRequest(sku="SET"))

    expected = [("MUG", 1), ("SPOON", 2)]
    assert [(c.sku, c.quantity) for c in created.item.components] == expected
    assert [(c.sku, c.quantity) for c in got.item.components] == expected
    assert {i.sku: len(i.components) for i in listed.items} == {"MUG": 0, "SET": 2, "SPOON": 0}
    assert [(c.sku, c.quantity) for c in changed.item.components] == [("MUG", 2)]
    assert [(c.sku, c.quantity) for c in again.item.components] == [("MUG", 2)]


async def test_bad_definitions_are_refused_with_a_violation_per_component(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await create_kit(inventory, "SET", {"MUG": 1})
    await create_kit(inventory, "BOX", {"SET": 2})

    with pytest.raises(InvalidArgument) as missing:
        await create_kit(inventory, "NEW", {"MUG": 1, "GHOST": 1})
    with pytest.raises(InvalidArgument) as itself:
        await create_kit(inventory, "SELF", {"SELF": 1})
    with pytest.raises(InvalidArgument) as cycle:
        await set_components(inventory, "SET", {"MUG": 1, "BOX": 1})
    with pytest.raises(InvalidArgument) as shape:
        await create_kit(inventory, "ODD", {"MUG": 0, "bad sku": 1})
    with pytest.raises(InvalidArgument) as empty:
        await set_components(inventory, "SET", {})
    with pytest.raises(FailedPrecondition) as plain:
        await set_components(inventory, "MUG", {"SET": 1})
    with pytest.raises(NotFound) as unknown:
        await set_components(inventory, "NOPE", {"MUG": 1})

    def violations(error: InvalidArgument) -> set[tuple[str, str]]:
        return {(v.field, v.reason) for v in error.field_violations}

    assert violations(missing.value) == {("item.components[1].sku", "ITEM_NOT_FOUND")}
    assert violations(itself.value) == {("item.components[0].sku", "KIT_CYCLE")}
    assert violations(cycle.value) == {("components[1].sku", "KIT_CYCLE")}
    assert "BOX contains SET" in cycle.value.message
    assert violations(shape.value) == {
        ("item.components[0].quantity", "OUT_OF_RANGE"),
        ("item.components[1].sku", "MALFORMED"),
    }
    assert violations(empty.value) == {("components", "EMPTY")}
    assert plain.value.reason == "NOT_A_KIT"
    assert unknown.value.reason == "ITEM_NOT_FOUND"
    with pytest.raises(NotFound):
        await inventory.stub.GetItem(pb.GetItemRequest(sku="NEW"))
    kit = await inventory.stub.GetItem(pb.GetItemRequest(sku="SET"))
    assert [(c.sku, c.quantity) for c in kit.item.components] == [("MUG", 1)]


async def test_a_kit_holds_no_stock_and_its_availability_comes_from_its_components(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG", "SPOON"], ["WH-1", "WH-2"])
    await create_kit(inventory, "SET", {"MUG": 1, "SPOON": 2})
    await create_kit(inventory, "DOUBLE", {"SET": 2, "MUG": 1})
    await inventory.receive("MUG", "WH-1", 5)
    await inventory.receive("MUG", "WH-2", 4)
    await inventory.receive("SPOON", "WH-1", 7)
    await inventory.receive("SPOON", "WH-2", 6)

    with pytest.raises(FailedPrecondition) as receipt:
        await inventory.receive("SET", "WH-1", 1)
    stock = await inventory.stub.BatchGetStockLevels(
        pb.BatchGetStockLevelsRequest(skus=["SET", "MUG", "DOUBLE"])
    )

    assert receipt.value.reason == "KIT_HOLDS_NO_STOCK"
    # SET: min(9 mugs / 1, 13 spoons / 2) = 6; DOUBLE takes 3 mugs and 4 spoons: min(3, 3) = 3.
    assert await available(inventory, "SET", "DOUBLE", "MUG") == [6, 3, 9]
    set_stock, mug_stock, double_stock = stock.skus
    assert (set_stock.kit, set_stock.available, list(set_stock.levels)) == (True, 6, [])
    assert (mug_stock.kit, mug_stock.available, len(mug_stock.levels)) == (False, 9, 2)
    assert (double_stock.kit, double_stock.available) == (True, 3)


async def test_reserving_a_kit_holds_every_component_or_nothing(inventory: Inventory) -> None:
    await inventory.register(["MUG", "SPOON", "CUP"], ["WH-1", "WH-2"])
    await create_kit(inventory, "SET", {"MUG": 1, "SPOON": 2})
    await inventory.receive("MUG", "WH-1", 3)
    await inventory.receive("MUG", "WH-2", 2)
    await inventory.receive("SPOON", "WH-1", 6)
    await inventory.receive("CUP", "WH-1", 1)

    reservation = await inventory.reserve({"SET": 3, "MUG": 2})
    with pytest.raises(FailedPrecondition) as short:
        await inventory.reserve({"CUP": 1, "SET": 1})

    kit_line, mug_line = reservation.lines
    assert (kit_line.sku, kit_line.quantity, list(kit_line.allocations)) == ("SET", 3, [])
    assert held(kit_line) == {"MUG": [("WH-1", 3)], "SPOON": [("WH-1", 6)]}
    assert [c.quantity for c in kit_line.components] == [3, 6]
    assert [(a.location_id, a.quantity) for a in mug_line.allocations] == [("WH-2", 2)]
    assert short.value.reason == "INSUFFICIENT_STOCK"
    assert [(v.subject, v.description) for v in short.value.precondition_violations] == [
        ("SET", "requested 1, available 0")
    ]
    assert (await inventory.level("CUP", "WH-1")).reserved == 0  # nothing of the refused one
    shown = await inventory.stub.GetReservation(
        pb.GetReservationRequest(reservation_id=reservation.reservation_id)
    )
    assert shown.reservation == reservation
    assert await available(inventory, "SET", "MUG", "SPOON") == [0, 0, 0]


async def test_two_kits_sharing_a_component_in_one_reservation(inventory: Inventory) -> None:
    await inventory.register(["MUG", "SPOON", "BOWL"], ["WH-1"])
    await create_kit(inventory, "TEA", {"MUG": 1, "SPOON": 1})
    await create_kit(inventory, "SOUP", {"BOWL": 1, "SPOON": 1})
    for sku in ("MUG", "SPOON", "BOWL"):
        await inventory.receive(sku, "WH-1", 4)

    reservation = await inventory.reserve({"TEA": 2, "SOUP": 1, "SPOON": 1})
    with pytest.raises(FailedPrecondition) as short:
        await inventory.reserve({"TEA": 1, "SOUP": 1})

    assert [held(line) for line in reservation.lines[:2]] == [
        {"MUG": [("WH-1", 2)], "SPOON": [("WH-1", 2)]},
        {"BOWL": [("WH-1", 1)], "SPOON": [("WH-1", 1)]},
    ]
    assert (await inventory.level("SPOON", "WH-1")).reserved == 4
    # Every spoon is held: neither kit can be made, and each short line is named.
    assert [(v.subject, v.description) for v in short.value.precondition_violations] == [
        ("TEA", "requested 1, available 0"),
        ("SOUP", "requested 1, available 0"),
    ]


async def test_confirm_release_and_expiry_move_the_components(inventory: Inventory) -> None:
    await inventory.register(["MUG", "SPOON"], ["WH-1"])
    await create_kit(inventory, "SET", {"MUG": 1, "SPOON": 2})
    await inventory.receive("MUG", "WH-1", 10)
    await inventory.receive("SPOON", "WH-1", 20)

    shipped = await inventory.reserve({"SET": 2})
    released = await inventory.reserve({"SET": 3})
    expiring = await inventory.reserve({"SET": 1}, ttl_s=5)
    await inventory.stub.ConfirmReservation(
        pb.ConfirmReservationRequest(reservation_id=shipped.reservation_id, request_id=request_id())
    )
    await inventory.stub.ReleaseReservation(
        pb.ReleaseReservationRequest(
            reservation_id=released.reservation_id, request_id=request_id()
        )
    )
    inventory.clock.advance(6)

    async def expired() -> bool:
        got = await inventory.stub.GetReservation(
            pb.GetReservationRequest(reservation_id=expiring.reservation_id)
        )
        return got.reservation.state == pb.RESERVATION_STATE_EXPIRED

    await eventually(expired, what="the sweeper expiring the kit reservation")
    mug, spoon = await inventory.level("MUG", "WH-1"), await inventory.level("SPOON", "WH-1")

    assert (mug.on_hand, mug.reserved, spoon.on_hand, spoon.reserved) == (8, 0, 16, 0)
    assert await available(inventory, "SET") == [8]


async def test_stock_writes_naming_a_kit_are_refused_and_write_nothing(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG"], ["WH-1", "WH-2"])
    await create_kit(inventory, "SET", {"MUG": 1})
    await inventory.receive("MUG", "WH-1", 3)
    calls: list[Any] = [
        inventory.stub.AdjustStock(
            pb.AdjustStockRequest(
                sku="SET", location_id="WH-1", on_hand=1, reason="COUNT", request_id=request_id()
            )
        ),
        inventory.stub.TransferStock(
            pb.TransferStockRequest(
                sku="SET",
                from_location_id="WH-1",
                to_location_id="WH-2",
                quantity=1,
                request_id=request_id(),
            )
        ),
        inventory.stub.SetSafetyStock(
            pb.SetSafetyStockRequest(
                sku="SET", location_id="WH-1", safety_stock=1, request_id=request_id()
            )
        ),
        inventory.stub.SetReorderPoint(
            pb.SetReorderPointRequest(
                sku="SET", location_id="WH-1", reorder_point=1, request_id=request_id()
            )
        ),
        inventory.stub.MoveStock(
            pb.MoveStockRequest(
                sku="SET",
                location_id="WH-1",
                from_state=pb.STOCK_STATE_SELLABLE,
                to_state=pb.STOCK_STATE_DAMAGED,
                quantity=1,
                reason="DROPPED",
                request_id=request_id(),
            )
        ),
    ]

    reasons = []
    for call in calls:
        with pytest.raises(FailedPrecondition) as raised:
            await call
        reasons.append(raised.value.reason)
    stock = await inventory.stub.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=["SET"]))

    assert reasons == ["KIT_HOLDS_NO_STOCK"] * len(calls)
    assert list(stock.skus[0].levels) == []
    assert stock.skus[0].available == 3
