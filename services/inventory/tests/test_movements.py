"""Receipts, counts, transfers, safety stock and the ledger, over gRPC on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict

import pytest

from stockroom.common.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb


async def all_movements(
    inventory: Inventory, page_size: int = 2, **filters: str
) -> list[pb.Movement]:
    entries: list[pb.Movement] = []
    token = ""
    for _ in range(1000):
        page = await inventory.stub.ListMovements(
            pb.ListMovementsRequest(page_size=page_size, page_token=token, **filters)
        )
        entries.extend(page.movements)
        token = page.next_page_token
        if not token:
            break
    return entries


async def test_receiving_an_unregistered_sku_or_location_is_not_found(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])

    with pytest.raises(NotFound) as sku:
        await inventory.receive("CAP", "WH-1", 1)
    with pytest.raises(NotFound) as location:
        await inventory.receive("MUG", "WH-9", 1)

    assert (sku.value.reason, location.value.reason) == ("ITEM_NOT_FOUND", "LOCATION_NOT_FOUND")
    assert await all_movements(inventory) == []


async def test_an_adjustment_sets_the_count_and_records_the_difference(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)

    response = await inventory.stub.AdjustStock(
        pb.AdjustStockRequest(
            sku="MUG",
            location_id="WH-1",
            on_hand=7,
            reason="CYCLE_COUNT",
            reference="CC-1",
            request_id=request_id(),
        )
    )

    assert response.level.on_hand == 7
    assert (response.movement.kind, response.movement.on_hand_delta) == (
        pb.MOVEMENT_KIND_ADJUSTMENT,
        -3,
    )
    assert (response.movement.reason, response.movement.reference) == ("CYCLE_COUNT", "CC-1")


async def test_a_compare_and_set_adjustment_fails_when_the_count_moved(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)
    seen = (await inventory.level("MUG", "WH-1")).on_hand
    await inventory.receive("MUG", "WH-1", 1)

    with pytest.raises(Aborted) as raised:
        await inventory.stub.AdjustStock(
            pb.AdjustStockRequest(
                sku="MUG",
                location_id="WH-1",
                on_hand=4,
                expected_on_hand=seen,
                reason="CYCLE_COUNT",
                request_id=request_id(),
            )
        )

    assert raised.value.reason == "ON_HAND_CHANGED"
    assert raised.value.metadata == {"onHand": "11"}
    assert (await inventory.level("MUG", "WH-1")).on_hand == 11


async def test_a_count_below_the_reserved_units_is_refused(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)
    await inventory.reserve({"MUG": 6})

    with pytest.raises(FailedPrecondition) as raised:
        await inventory.stub.AdjustStock(
            pb.AdjustStockRequest(
                sku="MUG", location_id="WH-1", on_hand=5, reason="DAMAGED", request_id=request_id()
            )
        )

    assert raised.value.reason == "BELOW_RESERVED"


async def test_a_transfer_moves_units_atomically_and_only_unreserved_ones(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG"], ["WH-1", "STORE-1"])
    await inventory.receive("MUG", "WH-1", 10)
    await inventory.reserve({"MUG": 6})

    with pytest.raises(FailedPrecondition) as too_many:
        await inventory.stub.TransferStock(
            pb.TransferStockRequest(
                sku="MUG",
                from_location_id="WH-1",
                to_location_id="STORE-1",
                quantity=5,
                request_id=request_id(),
            )
        )
    moved = await inventory.stub.TransferStock(
        pb.TransferStockRequest(
            sku="MUG",
            from_location_id="WH-1",
            to_location_id="STORE-1",
            quantity=4,
            reason="REPLENISHMENT",
            reference="TO-1",
            request_id=request_id(),
        )
    )

    assert too_many.value.reason == "INSUFFICIENT_STOCK"
    assert (moved.from_level.on_hand, moved.to_level.on_hand) == (6, 4)
    assert [(m.kind, m.location_id, m.on_hand_delta) for m in moved.movements] == [
        (pb.MOVEMENT_KIND_TRANSFER_OUT, "WH-1", -4),
        (pb.MOVEMENT_KIND_TRANSFER_IN, "STORE-1", 4),
    ]


async def test_safety_stock_with_a_stale_etag_is_refused(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)
    read = await inventory.level("MUG", "WH-1")
    await inventory.receive("MUG", "WH-1", 1)

    with pytest.raises(Aborted) as raised:
        await inventory.stub.SetSafetyStock(
            pb.SetSafetyStockRequest(
                sku="MUG",
                location_id="WH-1",
                safety_stock=2,
                etag=read.etag,
                request_id=request_id(),
            )
        )
    fresh = await inventory.level("MUG", "WH-1")
    changed = await inventory.stub.SetSafetyStock(
        pb.SetSafetyStockRequest(
            sku="MUG", location_id="WH-1", safety_stock=2, etag=fresh.etag, request_id=request_id()
        )
    )

    assert raised.value.reason == "ETAG_MISMATCH"
    assert (changed.level.safety_stock, changed.level.available) == (2, 9)


async def test_the_ledger_pages_in_sequence_order_and_sums_to_the_levels(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG", "TEE"], ["WH-1", "WH-2"])
    await inventory.receive("MUG", "WH-1", 10)
    await inventory.receive("MUG", "WH-2", 4)
    await inventory.receive("TEE", "WH-2", 3)
    reservation = await inventory.reserve({"MUG": 12, "TEE": 1})
    await inventory.stub.ConfirmReservation(
        pb.ConfirmReservationRequest(
            reservation_id=reservation.reservation_id, request_id=request_id()
        )
    )

    entries = await all_movements(inventory)
    mug_at_wh2 = await all_movements(inventory, sku="MUG", location_id="WH-2")

    # 3 receipts, 3 reservation entries (MUG from both locations, TEE), 3 shipments.
    assert len(entries) == 9
    assert [m.sequence for m in entries] == sorted({m.sequence for m in entries})
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for m in entries:
        sums[m.sku, m.location_id][0] += m.on_hand_delta
        sums[m.sku, m.location_id][1] += m.reserved_delta
        assert [m.level.on_hand, m.level.reserved] == sums[m.sku, m.location_id]
    levels = await inventory.stub.BatchGetStockLevels(
        pb.BatchGetStockLevelsRequest(skus=["MUG", "TEE"])
    )
    assert {
        (lv.sku, lv.location_id): [lv.on_hand, lv.reserved]
        for sku in levels.skus
        for lv in sku.levels
    } == dict(sums)
    assert {(m.sku, m.location_id) for m in mug_at_wh2} == {("MUG", "WH-2")}


async def test_a_page_token_only_works_with_the_filters_it_was_issued_for(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    for _ in range(3):
        await inventory.receive("MUG", "WH-1", 1)
    first = await inventory.stub.ListMovements(pb.ListMovementsRequest(page_size=1, sku="MUG"))

    with pytest.raises(InvalidArgument) as other_filter:
        await inventory.stub.ListMovements(
            pb.ListMovementsRequest(page_size=1, page_token=first.next_page_token)
        )
    with pytest.raises(InvalidArgument) as forged:
        await inventory.stub.ListMovements(
            pb.ListMovementsRequest(page_size=1, sku="MUG", page_token="not-a-token")
        )

    assert other_filter.value.reason == forged.value.reason == "INVALID_PAGE_TOKEN"


async def test_batch_get_answers_in_request_order_and_refuses_unknown_skus(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG", "TEE"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 2)

    response = await inventory.stub.BatchGetStockLevels(
        pb.BatchGetStockLevelsRequest(skus=["TEE", "MUG"])
    )
    with pytest.raises(NotFound):
        await inventory.stub.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=["MUG", "X"]))

    assert [(s.sku, s.on_hand, len(s.levels)) for s in response.skus] == [
        ("TEE", 0, 0),
        ("MUG", 2, 1),
    ]


async def test_items_and_locations_list_in_pages(inventory: Inventory) -> None:
    await inventory.register(["C", "A", "B"], ["L2", "L1"])

    first = await inventory.stub.ListItems(pb.ListItemsRequest(page_size=2))
    second = await inventory.stub.ListItems(
        pb.ListItemsRequest(page_size=2, page_token=first.next_page_token)
    )
    locations = await inventory.stub.ListLocations(pb.ListLocationsRequest())

    assert [i.sku for i in first.items] + [i.sku for i in second.items] == ["A", "B", "C"]
    assert second.next_page_token == ""
    assert [loc.location_id for loc in locations.locations] == ["L1", "L2"]
