"""Backorders and preorders over gRPC on SQLite and PostgreSQL: policies, what a short
reservation gets, fills first come first served, give-backs, confirm refused while waiting."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from stockroom.common.errors import Aborted, FailedPrecondition
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb

BACKORDER = pb.INVENTORY_POLICY_MODE_BACKORDER
PREORDER = pb.INVENTORY_POLICY_MODE_PREORDER
REFUSE = pb.INVENTORY_POLICY_MODE_REFUSE


async def stocked(inventory: Inventory) -> Inventory:
    await inventory.register(["MUG", "TEE"], ["WH-1", "WH-2"])
    await inventory.receive("MUG", "WH-1", 5)
    await inventory.receive("TEE", "WH-1", 1)
    return inventory


def backorders(reservation: pb.Reservation, sku: str) -> list[tuple[str, int, int, int, bool]]:
    (line,) = [line for line in reservation.lines if line.sku == sku]
    return [
        (b.location_id, b.quantity, b.filled, b.outstanding, b.preorder) for b in line.backorders
    ]


async def policy_of(inventory: Inventory, sku: str, location_id: str = "") -> pb.InventoryPolicy:
    listed = await inventory.stub.ListInventoryPolicies(pb.ListInventoryPoliciesRequest(sku=sku))
    (found,) = [p for p in listed.policies if p.location_id == location_id]
    return found


async def get(inventory: Inventory, reservation_id: str) -> pb.Reservation:
    response = await inventory.stub.GetReservation(
        pb.GetReservationRequest(reservation_id=reservation_id)
    )
    return response.reservation


async def test_without_a_policy_a_short_reservation_is_refused_as_before(
    inventory: Inventory,
) -> None:
    await stocked(inventory)

    with pytest.raises(FailedPrecondition) as raised:
        await inventory.reserve({"MUG": 8})

    assert raised.value.reason == "INSUFFICIENT_STOCK"
    assert raised.value.precondition_violations[0].description == "requested 8, available 5"


async def test_a_backorder_policy_reserves_what_is_on_hand_and_backorders_the_rest(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    await inventory.set_policy("MUG", BACKORDER, limit=10)

    reservation = await inventory.reserve({"MUG": 8, "TEE": 1})

    (mug, tee) = reservation.lines
    assert (mug.quantity, mug.backordered, mug.preorder) == (8, 3, False)
    assert [(a.location_id, a.quantity) for a in mug.allocations] == [("WH-1", 5)]
    assert backorders(reservation, "MUG") == [("WH-1", 3, 0, 3, False)]
    assert tee.backordered == 0
    level = await inventory.level("MUG", "WH-1")
    assert (level.on_hand, level.reserved, level.backordered, level.available) == (5, 5, 3, 0)
    assert (await policy_of(inventory, "MUG")).backordered == 3
    ledger = await inventory.stub.ListMovements(pb.ListMovementsRequest(sku="MUG"))
    kinds = [(m.kind, m.reserved_delta, m.backordered_delta) for m in ledger.movements[1:]]
    assert kinds == [(pb.MOVEMENT_KIND_RESERVATION, 5, 0), (pb.MOVEMENT_KIND_BACKORDER, 0, 3)]
    assert (await get(inventory, reservation.reservation_id)) == reservation


async def test_the_limit_bounds_what_is_outstanding_and_the_refusal_says_what_could_be_taken(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    await inventory.set_policy("MUG", BACKORDER, limit=4)
    await inventory.reserve({"MUG": 7})  # 5 reserved, 2 backordered

    with pytest.raises(FailedPrecondition) as raised:
        await inventory.reserve({"MUG": 3})
    last = await inventory.reserve({"MUG": 2})
    availability = await inventory.stub.CheckAvailability(
        pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku="MUG", quantity=1)])
    )

    assert raised.value.reason == "INSUFFICIENT_STOCK"
    assert raised.value.precondition_violations[0].description == (
        "requested 3, available 0, could backorder 2"
    )
    assert last.lines[0].backordered == 2
    assert (await policy_of(inventory, "MUG")).backordered == 4
    line = availability.lines[0]
    assert (line.available, line.satisfiable, line.backorderable) == (0, False, 0)


async def test_a_location_policy_wins_over_the_sku_wide_one(inventory: Inventory) -> None:
    await stocked(inventory)
    await inventory.receive("MUG", "WH-2", 1)
    await inventory.set_policy("MUG", BACKORDER, limit=10)
    await inventory.set_policy("MUG", REFUSE, location_id="WH-1")

    reservation = await inventory.reserve({"MUG": 9})

    assert backorders(reservation, "MUG") == [("WH-2", 3, 0, 3, False)]
    with pytest.raises(FailedPrecondition):
        await inventory.reserve({"MUG": 1}, location_ids=("WH-1",))


async def test_receipts_fill_backorders_first_come_first_served(inventory: Inventory) -> None:
    await stocked(inventory)
    await inventory.set_policy("MUG", BACKORDER, limit=20)
    first = await inventory.reserve({"MUG": 8})  # 5 held, 3 waiting
    second = await inventory.reserve({"MUG": 4})  # 4 waiting

    received = await inventory.receive("MUG", "WH-1", 5)

    assert [(f.kind, f.reservation_id, f.reserved_delta) for f in received.fills] == [
        (pb.MOVEMENT_KIND_BACKORDER_FILL, first.reservation_id, 3),
        (pb.MOVEMENT_KIND_BACKORDER_FILL, second.reservation_id, 2),
    ]
    assert all(f.request_id == received.movement.request_id for f in received.fills)
    level = received.level
    assert (level.on_hand, level.reserved, level.backordered, level.available) == (10, 10, 2, 0)
    now_first, now_second = (
        await get(inventory, first.reservation_id),
        await get(inventory, second.reservation_id),
    )
    assert backorders(now_first, "MUG") == [("WH-1", 3, 3, 0, False)]
    assert [(a.location_id, a.quantity) for a in now_first.lines[0].allocations] == [("WH-1", 8)]
    assert backorders(now_second, "MUG") == [("WH-1", 4, 2, 2, False)]
    assert now_second.lines[0].quantity == 4
    assert (await policy_of(inventory, "MUG")).backordered == 2


async def test_a_transfer_in_fills_what_waits_at_its_destination(inventory: Inventory) -> None:
    await stocked(inventory)
    await inventory.set_policy("MUG", BACKORDER, location_id="WH-2", limit=5)
    waiting = await inventory.reserve({"MUG": 2}, location_ids=("WH-2",))

    moved = await inventory.stub.TransferStock(
        pb.TransferStockRequest(
            sku="MUG",
            from_location_id="WH-1",
            to_location_id="WH-2",
            quantity=3,
            request_id=request_id(),
        )
    )

    assert [(f.reservation_id, f.reserved_delta) for f in moved.fills] == [
        (waiting.reservation_id, 2)
    ]
    assert (moved.to_level.on_hand, moved.to_level.reserved, moved.to_level.available) == (3, 2, 1)


async def test_releasing_gives_the_allowance_back_and_its_freed_units_fill_the_next(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    await inventory.set_policy("MUG", BACKORDER, limit=3)
    holder = await inventory.reserve({"MUG": 5})
    waiting = await inventory.reserve({"MUG": 3})
    with pytest.raises(FailedPrecondition):
        await inventory.reserve({"MUG": 1})

    await inventory.stub.ReleaseReservation(
        pb.ReleaseReservationRequest(reservation_id=holder.reservation_id, request_id=request_id())
    )

    assert backorders(await get(inventory, waiting.reservation_id), "MUG") == [
        ("WH-1", 3, 3, 0, False)
    ]
    level = await inventory.level("MUG", "WH-1")
    assert (level.reserved, level.backordered, level.available) == (3, 0, 2)
    assert (await policy_of(inventory, "MUG")).backordered == 0


async def test_releasing_a_waiting_reservation_gives_its_units_and_allowance_back(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    await inventory.set_policy("MUG", BACKORDER, limit=3)
    waiting = await inventory.reserve({"MUG": 7})

    released = await inventory.stub.ReleaseReservation(
        pb.ReleaseReservationRequest(reservation_id=waiting.reservation_id, request_id=request_id())
    )
    again = await inventory.reserve({"MUG": 8})

    assert backorders(released.reservation, "MUG") == [("WH-1", 2, 0, 0, False)]
    assert released.reservation.lines[0].backorders[0].cancelled == 2
    assert released.reservation.lines[0].quantity == 7
    assert again.lines[0].backordered == 3
    level = await inventory.level("MUG", "WH-1")
    assert (level.reserved, level.backordered) == (5, 3)


async def test_an_expired_reservation_gives_its_backorders_back(inventory: Inventory) -> None:
    await stocked(inventory)
    await inventory.set_policy("MUG", BACKORDER, limit=3)
    waiting = await inventory.reserve({"MUG": 8}, ttl_s=5)

    inventory.clock.advance(6)
    for _ in range(500):  # the sweeper runs every 20 ms in tests: at most 10 s
        if (await get(inventory, waiting.reservation_id)).state == pb.RESERVATION_STATE_EXPIRED:
            break
        await asyncio.sleep(0.02)

    assert (await get(inventory, waiting.reservation_id)).state == pb.RESERVATION_STATE_EXPIRED
    level = await inventory.level("MUG", "WH-1")
    assert (level.reserved, level.backordered) == (0, 0)
    assert (await policy_of(inventory, "MUG")).backordered == 0


async def test_confirming_a_reservation_that_still_waits_is_refused_until_it_is_filled(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    await inventory.set_policy("MUG", BACKORDER, limit=5)
    reservation = await inventory.reserve({"MUG": 7, "TEE": 1})
    confirm = pb.ConfirmReservationRequest(
        reservation_id=reservation.reservation_id, request_id=request_id()
    )

    with pytest.raises(FailedPrecondition) as raised:
        await inventory.stub.ConfirmReservation(confirm)
    await inventory.receive("MUG", "WH-1", 2)
    confirmed = await inventory.stub.ConfirmReservation(confirm)  # the same request id again

    assert raised.value.reason == "BACKORDER_PENDING"
    assert [(v.subject, v.description) for v in raised.value.precondition_violations] == [
        ("MUG", "2 units backordered")
    ]
    assert confirmed.reservation.state == pb.RESERVATION_STATE_CONFIRMED
    level = await inventory.level("MUG", "WH-1")
    assert (level.on_hand, level.reserved, level.backordered) == (0, 0, 0)


async def test_preorders_are_taken_until_their_date_and_say_so(inventory: Inventory) -> None:
    await inventory.register(["GAME"], ["WH-1"])
    launch = inventory.clock.now + timedelta(days=30)
    await inventory.set_policy("GAME", PREORDER, location_id="WH-1", until=launch)

    first = await inventory.reserve({"GAME": 2})
    check = await inventory.stub.CheckAvailability(
        pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku="GAME", quantity=3)])
    )
    # Read before the clock passes the reservation's expiry: the sweeper may expire it then.
    ledger = await inventory.stub.ListMovements(pb.ListMovementsRequest(sku="GAME"))
    inventory.clock.advance(timedelta(days=31).total_seconds())
    with pytest.raises(FailedPrecondition):
        await inventory.reserve({"GAME": 1})

    assert (first.lines[0].backordered, first.lines[0].preorder) == (2, True)
    assert backorders(first, "GAME") == [("WH-1", 2, 0, 2, True)]
    assert [m.kind for m in ledger.movements] == [pb.MOVEMENT_KIND_PREORDER]
    line = check.lines[0]
    assert (line.available, line.backorderable, line.preorderable) == (0, 0, 1_000_000_000)


async def test_a_limit_below_what_is_outstanding_is_refused_and_etags_guard_changes(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    policy = await inventory.set_policy("MUG", BACKORDER, limit=5)
    await inventory.reserve({"MUG": 9})

    with pytest.raises(FailedPrecondition) as below:
        await inventory.set_policy("MUG", BACKORDER, limit=3)
    with pytest.raises(Aborted) as stale:
        await inventory.stub.SetInventoryPolicy(
            pb.SetInventoryPolicyRequest(
                policy=pb.InventoryPolicy(sku="MUG", mode=REFUSE),
                etag="0",
                request_id=request_id(),
            )
        )
    refused = await inventory.stub.SetInventoryPolicy(
        pb.SetInventoryPolicyRequest(
            policy=pb.InventoryPolicy(sku="MUG", mode=REFUSE),
            etag=policy.etag,
            request_id=request_id(),
        )
    )

    assert below.value.reason == "LIMIT_BELOW_BACKORDERED"
    assert stale.value.reason == "ETAG_MISMATCH"
    assert refused.policy.mode == REFUSE
    assert refused.policy.backordered == 4  # still outstanding: filled or given back later
    assert not refused.policy.HasField("backorder_limit")


async def test_a_line_with_nothing_on_hand_waits_whole_and_reads_back(
    inventory: Inventory,
) -> None:
    await inventory.register(["CAP"], ["WH-1"])
    await inventory.set_policy("CAP", BACKORDER, location_id="WH-1", limit=10)

    reservation = await inventory.reserve({"CAP": 4})
    replayed = await inventory.stub.GetReservation(
        pb.GetReservationRequest(reservation_id=reservation.reservation_id)
    )
    levels = await inventory.stub.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=["CAP"]))

    assert list(reservation.lines[0].allocations) == []
    assert replayed.reservation == reservation
    assert (levels.skus[0].backordered, levels.skus[0].levels[0].backordered) == (4, 4)


async def test_a_receipt_that_filled_backorders_replays_its_recorded_answer(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    await inventory.set_policy("MUG", BACKORDER, limit=10)
    await inventory.reserve({"MUG": 7})
    request = pb.ReceiveStockRequest(
        sku="MUG", location_id="WH-1", quantity=4, request_id=request_id()
    )

    first = await inventory.stub.ReceiveStock(request)
    again = await inventory.stub.ReceiveStock(request)

    assert len(first.fills) == 1
    assert again == first
    assert (await inventory.level("MUG", "WH-1")).on_hand == 9


async def test_policies_page_in_sku_and_location_order_and_a_retry_replays(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG", "TEE"], ["WH-1", "WH-2"])
    request = pb.SetInventoryPolicyRequest(
        policy=pb.InventoryPolicy(sku="TEE", mode=BACKORDER, backorder_limit=2),
        request_id=request_id(),
    )
    first = await inventory.stub.SetInventoryPolicy(request)
    again = await inventory.stub.SetInventoryPolicy(request)
    await inventory.set_policy("MUG", REFUSE, location_id="WH-2")
    await inventory.set_policy("MUG", BACKORDER, limit=1)

    seen: list[tuple[str, str]] = []
    token = ""
    for _ in range(10):
        page = await inventory.stub.ListInventoryPolicies(
            pb.ListInventoryPoliciesRequest(page_size=1, page_token=token)
        )
        seen += [(p.sku, p.location_id) for p in page.policies]
        token = page.next_page_token
        if not token:
            break

    assert again == first
    assert first.policy.etag == "1"
    assert seen == [("MUG", ""), ("MUG", "WH-2"), ("TEE", "")]


async def test_units_moved_back_to_sellable_fill_what_waits_and_kits_take_no_policy(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    await inventory.stub.CreateItem(
        pb.CreateItemRequest(
            item=pb.Item(sku="SET", components=[pb.KitComponent(sku="MUG", quantity=2)]),
            request_id=request_id(),
        )
    )
    await inventory.stub.MoveStock(
        pb.MoveStockRequest(
            sku="MUG",
            location_id="WH-1",
            from_state=pb.STOCK_STATE_SELLABLE,
            to_state=pb.STOCK_STATE_QUALITY_CONTROL,
            quantity=3,
            reason="INSPECT",
            request_id=request_id(),
        )
    )
    await inventory.set_policy("MUG", BACKORDER, limit=5)
    waiting = await inventory.reserve({"MUG": 4})  # 2 held, 2 waiting

    back = await inventory.stub.MoveStock(
        pb.MoveStockRequest(
            sku="MUG",
            location_id="WH-1",
            from_state=pb.STOCK_STATE_QUALITY_CONTROL,
            to_state=pb.STOCK_STATE_SELLABLE,
            quantity=3,
            reason="PASSED",
            request_id=request_id(),
        )
    )
    with pytest.raises(FailedPrecondition) as kit_policy:
        await inventory.set_policy("SET", BACKORDER, limit=5)
    with pytest.raises(FailedPrecondition) as kit_short:
        await inventory.reserve({"SET": 2})  # 1 MUG available: kits take all or nothing

    assert backorders(await get(inventory, waiting.reservation_id), "MUG") == [
        ("WH-1", 2, 2, 0, False)
    ]
    level = back.level
    assert (level.on_hand, level.reserved, level.backordered, level.available) == (5, 4, 0, 1)
    assert kit_policy.value.reason == "KIT_HOLDS_NO_STOCK"
    assert kit_short.value.reason == "INSUFFICIENT_STOCK"
