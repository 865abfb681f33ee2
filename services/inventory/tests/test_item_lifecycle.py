"""Items over gRPC on SQLite and PostgreSQL: renamed, deactivated (no new reservations, the
old ones still settle), reactivated, and listed by SKU prefix and state."""

from __future__ import annotations

import pytest

from stockroom.common.errors import FailedPrecondition, InvalidArgument, NotFound
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb


async def deactivate(inventory: Inventory, sku: str, reason: str = "DISCONTINUED") -> pb.Item:
    response = await inventory.stub.DeactivateItem(
        pb.DeactivateItemRequest(sku=sku, reason=reason, request_id=request_id())
    )
    return response.item


async def reactivate(inventory: Inventory, sku: str) -> pb.Item:
    response = await inventory.stub.ReactivateItem(
        pb.ReactivateItemRequest(sku=sku, request_id=request_id())
    )
    return response.item


async def test_an_item_can_be_renamed_and_a_repeat_is_a_no_op(inventory: Inventory) -> None:
    await inventory.register(["MUG"], [])
    rid = request_id()

    renamed = await inventory.stub.RenameItem(
        pb.RenameItemRequest(sku="MUG", display_name="Coffee mug", request_id=rid)
    )
    inventory.clock.advance(5)
    replayed = await inventory.stub.RenameItem(
        pb.RenameItemRequest(sku="MUG", display_name="Coffee mug", request_id=rid)
    )
    got = await inventory.stub.GetItem(pb.GetItemRequest(sku="MUG"))
    with pytest.raises(NotFound) as unknown:
        await inventory.stub.RenameItem(
            pb.RenameItemRequest(sku="CAP", display_name="Cap", request_id=request_id())
        )

    assert renamed.item.display_name == "Coffee mug"
    assert renamed.item.state == pb.ITEM_STATE_ACTIVE
    assert replayed == renamed
    assert got.item == renamed.item
    assert unknown.value.reason == "ITEM_NOT_FOUND"


async def test_a_deactivated_item_takes_no_new_reservation_but_old_ones_settle(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG", "TEE"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)
    await inventory.receive("TEE", "WH-1", 10)
    held = await inventory.reserve({"MUG": 3})
    other = await inventory.reserve({"MUG": 2})

    item = await deactivate(inventory, "MUG", "supplier stopped it")
    with pytest.raises(FailedPrecondition) as refused:
        await inventory.reserve({"TEE": 1, "MUG": 1})
    check = await inventory.stub.CheckAvailability(
        pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku="MUG", quantity=1)])
    )
    confirmed = await inventory.stub.ConfirmReservation(
        pb.ConfirmReservationRequest(reservation_id=held.reservation_id, request_id=request_id())
    )
    released = await inventory.stub.ReleaseReservation(
        pb.ReleaseReservationRequest(reservation_id=other.reservation_id, request_id=request_id())
    )
    await inventory.receive("MUG", "WH-1", 1)  # its stock still moves

    assert item.state == pb.ITEM_STATE_INACTIVE
    assert item.deactivation_reason == "supplier stopped it"
    assert refused.value.reason == "ITEM_INACTIVE"
    assert "supplier stopped it" in refused.value.message
    assert [(v.subject, v.description) for v in refused.value.precondition_violations] == [
        ("MUG", "supplier stopped it")
    ]
    assert (check.lines[0].available, check.lines[0].satisfiable) == (0, False)
    assert confirmed.reservation.state == pb.RESERVATION_STATE_CONFIRMED
    assert released.reservation.state == pb.RESERVATION_STATE_RELEASED
    level = await inventory.level("MUG", "WH-1")
    assert (level.on_hand, level.reserved) == (8, 0)
    assert (await inventory.level("TEE", "WH-1")).reserved == 0, "the refusal held nothing"


async def test_a_reactivated_item_can_be_reserved_again(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 4)
    first = await deactivate(inventory, "MUG", "recall")
    again = await deactivate(inventory, "MUG", "another reason")

    back = await reactivate(inventory, "MUG")
    reservation = await inventory.reserve({"MUG": 4})

    assert again.deactivation_reason == "recall", "deactivating twice keeps the first reason"
    assert first.state == again.state == pb.ITEM_STATE_INACTIVE
    assert (back.state, back.deactivation_reason) == (pb.ITEM_STATE_ACTIVE, "")
    assert reservation.lines[0].held == 4


async def test_deactivating_needs_a_reason(inventory: Inventory) -> None:
    await inventory.register(["MUG"], [])

    with pytest.raises(InvalidArgument) as raised:
        await inventory.stub.DeactivateItem(
            pb.DeactivateItemRequest(sku="MUG", request_id=request_id())
        )

    assert {(v.field, v.reason) for v in raised.value.field_violations} == {("reason", "REQUIRED")}


async def test_items_are_listed_by_sku_prefix_and_state_a_page_at_a_time(
    inventory: Inventory,
) -> None:
    skus = ["MUG-1", "MUG-2", "MUG-3", "MUG_4", "MUGX", "mug-5", "TEE-1"]
    await inventory.register(skus, [])
    await deactivate(inventory, "MUG-2")
    await deactivate(inventory, "TEE-1")

    async def listed(
        prefix: str, state: pb.ItemState.ValueType = pb.ITEM_STATE_UNSPECIFIED
    ) -> list[str]:
        found: list[str] = []
        token = ""
        for _ in range(20):
            page = await inventory.stub.ListItems(
                pb.ListItemsRequest(sku_prefix=prefix, state=state, page_size=2, page_token=token)
            )
            found += [item.sku for item in page.items]
            token = page.next_page_token
            if not token:
                return found
        raise AssertionError("more than 20 pages")

    assert await listed("MUG-") == ["MUG-1", "MUG-2", "MUG-3"]
    assert await listed("MUG_") == ["MUG_4"], "'_' is a character, not a wildcard"
    assert await listed("mug") == ["mug-5"], "prefixes are case-sensitive"
    # (SKU order is the database's collation: compare as sets where punctuation decides.)
    assert sorted(await listed("MUG", pb.ITEM_STATE_ACTIVE)) == ["MUG-1", "MUG-3", "MUGX", "MUG_4"]
    assert await listed("", pb.ITEM_STATE_INACTIVE) == ["MUG-2", "TEE-1"]
    assert sorted(await listed("")) == sorted(skus)
    first = await inventory.stub.ListItems(pb.ListItemsRequest(sku_prefix="MUG", page_size=1))
    with pytest.raises(InvalidArgument) as other_filters:
        await inventory.stub.ListItems(
            pb.ListItemsRequest(sku_prefix="TEE", page_token=first.next_page_token)
        )
    with pytest.raises(InvalidArgument) as bad_prefix:
        await inventory.stub.ListItems(pb.ListItemsRequest(sku_prefix="MUG%"))
    assert {v.field for v in other_filters.value.field_violations} == {"page_token"}
    assert {(v.field, v.reason) for v in bad_prefix.value.field_violations} == {
        ("sku_prefix", "MALFORMED")
    }
