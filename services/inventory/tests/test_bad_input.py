"""Bad input gets INVALID_ARGUMENT naming the field, and writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from stockroom.common.errors import AlreadyExists, InvalidArgument
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb

RID = "7b0c4a52-3f4e-4c43-9a43-3bd7f04a3c71"
RESERVATION = "3f1c8f2e-9a35-4f8b-8d0e-5b2f1f4c9a10"

Call = Callable[[Inventory], Any]

CASES: list[tuple[str, Call, str, str]] = [
    (
        "receipt without request id",
        lambda i: i.stub.ReceiveStock(
            pb.ReceiveStockRequest(sku="MUG", location_id="WH-1", quantity=1)
        ),
        "request_id",
        "REQUIRED",
    ),
    (
        "receipt with a request id that is no UUID",
        lambda i: i.stub.ReceiveStock(
            pb.ReceiveStockRequest(sku="MUG", location_id="WH-1", quantity=1, request_id="abc")
        ),
        "request_id",
        "MALFORMED",
    ),
    (
        "receipt of zero units",
        lambda i: i.stub.ReceiveStock(
            pb.ReceiveStockRequest(sku="MUG", location_id="WH-1", quantity=0, request_id=RID)
        ),
        "quantity",
        "NOT_POSITIVE",
    ),
    (
        "receipt of negative units",
        lambda i: i.stub.ReceiveStock(
            pb.ReceiveStockRequest(sku="MUG", location_id="WH-1", quantity=-3, request_id=RID)
        ),
        "quantity",
        "NOT_POSITIVE",
    ),
    (
        "receipt with a malformed SKU",
        lambda i: i.stub.ReceiveStock(
            pb.ReceiveStockRequest(sku="MU G/1", location_id="WH-1", quantity=1, request_id=RID)
        ),
        "sku",
        "MALFORMED",
    ),
    (
        "adjustment to a negative count",
        lambda i: i.stub.AdjustStock(
            pb.AdjustStockRequest(
                sku="MUG", location_id="WH-1", on_hand=-1, reason="X", request_id=RID
            )
        ),
        "on_hand",
        "NEGATIVE",
    ),
    (
        "adjustment without a reason",
        lambda i: i.stub.AdjustStock(
            pb.AdjustStockRequest(sku="MUG", location_id="WH-1", on_hand=1, request_id=RID)
        ),
        "reason",
        "REQUIRED",
    ),
    (
        "transfer to the same location",
        lambda i: i.stub.TransferStock(
            pb.TransferStockRequest(
                sku="MUG",
                from_location_id="WH-1",
                to_location_id="WH-1",
                quantity=1,
                request_id=RID,
            )
        ),
        "to_location_id",
        "SAME_LOCATION",
    ),
    (
        "reservation without lines",
        lambda i: i.stub.ReserveStock(pb.ReserveStockRequest(request_id=RID)),
        "lines",
        "EMPTY",
    ),
    (
        "reservation with a SKU twice",
        lambda i: i.stub.ReserveStock(
            pb.ReserveStockRequest(
                lines=[pb.ReserveStockLine(sku="MUG", quantity=1)] * 2, request_id=RID
            )
        ),
        "lines",
        "DUPLICATE",
    ),
    (
        "reservation with too many lines",
        lambda i: i.stub.ReserveStock(
            pb.ReserveStockRequest(
                lines=[pb.ReserveStockLine(sku=f"S{n}", quantity=1) for n in range(101)],
                request_id=RID,
            )
        ),
        "lines",
        "TOO_MANY",
    ),
    (
        "reservation with a negative TTL",
        lambda i: i.stub.ReserveStock(
            pb.ReserveStockRequest(
                lines=[pb.ReserveStockLine(sku="MUG", quantity=1)],
                ttl=Duration(seconds=-5),
                request_id=RID,
            )
        ),
        "ttl",
        "OUT_OF_RANGE",
    ),
    (
        "confirmation of a malformed reservation id",
        lambda i: i.stub.ConfirmReservation(
            pb.ConfirmReservationRequest(reservation_id="R-1", request_id=RID)
        ),
        "reservation_id",
        "MALFORMED",
    ),
    (
        "release without request id",
        lambda i: i.stub.ReleaseReservation(
            pb.ReleaseReservationRequest(reservation_id=RESERVATION)
        ),
        "request_id",
        "REQUIRED",
    ),
    (
        "batch get of too many SKUs",
        lambda i: i.stub.BatchGetStockLevels(
            pb.BatchGetStockLevelsRequest(skus=[f"S{n}" for n in range(501)])
        ),
        "skus",
        "TOO_MANY",
    ),
    (
        "availability check of too many lines",
        lambda i: i.stub.CheckAvailability(
            pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku="MUG", quantity=1)] * 501)
        ),
        "lines",
        "TOO_MANY",
    ),
    (
        "batch availability check without requests",
        lambda i: i.stub.BatchCheckAvailability(pb.BatchCheckAvailabilityRequest()),
        "requests",
        "EMPTY",
    ),
    (
        "batch availability check with a line of no units in its second request",
        lambda i: i.stub.BatchCheckAvailability(
            pb.BatchCheckAvailabilityRequest(
                requests=[
                    pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku="MUG", quantity=1)]),
                    pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku="MUG", quantity=0)]),
                ]
            )
        ),
        "requests[1].lines[0].quantity",
        "NOT_POSITIVE",
    ),
    (
        "negative page size",
        lambda i: i.stub.ListMovements(pb.ListMovementsRequest(page_size=-1)),
        "page_size",
        "NEGATIVE",
    ),
    (
        "item with a malformed SKU",
        lambda i: i.stub.CreateItem(
            pb.CreateItemRequest(item=pb.Item(sku="-lead"), request_id=RID)
        ),
        "item.sku",
        "MALFORMED",
    ),
    (
        "partial confirm of zero units",
        lambda i: i.stub.ConfirmReservation(
            pb.ConfirmReservationRequest(
                reservation_id=RESERVATION,
                lines=[pb.PartialLine(sku="MUG", quantity=0)],
                request_id=RID,
            )
        ),
        "lines[0].quantity",
        "NOT_POSITIVE",
    ),
    (
        "partial confirm naming a part twice",
        lambda i: i.stub.ConfirmReservation(
            pb.ConfirmReservationRequest(
                reservation_id=RESERVATION,
                lines=[pb.PartialLine(sku="MUG", quantity=1)] * 2,
                request_id=RID,
            )
        ),
        "lines",
        "DUPLICATE",
    ),
    (
        "partial release at a malformed location",
        lambda i: i.stub.ReleaseReservation(
            pb.ReleaseReservationRequest(
                reservation_id=RESERVATION,
                lines=[pb.PartialLine(sku="MUG", quantity=1, location_id="W H")],
                request_id=RID,
            )
        ),
        "lines[0].location_id",
        "MALFORMED",
    ),
    (
        "extension without a new expiry",
        lambda i: i.stub.ExtendReservation(
            pb.ExtendReservationRequest(reservation_id=RESERVATION, request_id=RID)
        ),
        "expire_time",
        "REQUIRED",
    ),
    (
        "extension by no time at all",
        lambda i: i.stub.ExtendReservation(
            pb.ExtendReservationRequest(
                reservation_id=RESERVATION, ttl=Duration(seconds=0), request_id=RID
            )
        ),
        "ttl",
        "OUT_OF_RANGE",
    ),
    (
        "extension to a timestamp with negative nanos",
        lambda i: i.stub.ExtendReservation(
            pb.ExtendReservationRequest(
                reservation_id=RESERVATION,
                expire_time=Timestamp(seconds=1_900_000_000, nanos=-1),
                request_id=RID,
            )
        ),
        "expire_time",
        "MALFORMED",
    ),
    (
        "extension of a malformed reservation id",
        lambda i: i.stub.ExtendReservation(
            pb.ExtendReservationRequest(
                reservation_id="nope", ttl=Duration(seconds=60), request_id=RID
            )
        ),
        "reservation_id",
        "MALFORMED",
    ),
    (
        "reservations listed in an unknown state",
        lambda i: i.stub.ListReservations(pb.ListReservationsRequest(state=99)),  # type: ignore[arg-type]
        "state",
        "MALFORMED",
    ),
    (
        "items listed in an unknown state",
        lambda i: i.stub.ListItems(pb.ListItemsRequest(state=7)),  # type: ignore[arg-type]
        "state",
        "MALFORMED",
    ),
    (
        "item renamed to unprintable text",
        lambda i: i.stub.RenameItem(
            pb.RenameItemRequest(sku="MUG", display_name="a\x00b", request_id=RID)
        ),
        "display_name",
        "MALFORMED",
    ),
    (
        "item reactivated without request id",
        lambda i: i.stub.ReactivateItem(pb.ReactivateItemRequest(sku="MUG")),
        "request_id",
        "REQUIRED",
    ),
    (
        "availability counted at a location twice",
        lambda i: i.stub.CheckAvailability(
            pb.CheckAvailabilityRequest(
                lines=[pb.AvailabilityLine(sku="MUG", quantity=1)],
                location_ids=["WH-1", "WH-1"],
            )
        ),
        "location_ids",
        "DUPLICATE",
    ),
    (
        "ledger verified with a negative page size",
        lambda i: i.stub.VerifyLedger(pb.VerifyLedgerRequest(page_size=-1)),
        "page_size",
        "NEGATIVE",
    ),
    (
        "ledger verified from a forged page token",
        lambda i: i.stub.VerifyLedger(pb.VerifyLedgerRequest(page_token="forged")),
        "page_token",
        "INVALID_PAGE_TOKEN",
    ),
    (
        "location without a kind",
        lambda i: i.stub.CreateLocation(
            pb.CreateLocationRequest(location=pb.Location(location_id="WH-3"), request_id=RID)
        ),
        "location.kind",
        "REQUIRED",
    ),
    (
        "a move without a quantity",
        lambda i: i.stub.MoveStock(
            pb.MoveStockRequest(
                sku="MUG",
                location_id="WH-1",
                from_state=pb.STOCK_STATE_SELLABLE,
                to_state=pb.STOCK_STATE_DAMAGED,
                reason="DROPPED",
                request_id=RID,
            )
        ),
        "quantity",
        "NOT_POSITIVE",
    ),
    (
        "a move of sellable units straight to written off",
        lambda i: i.stub.MoveStock(
            pb.MoveStockRequest(
                sku="MUG",
                location_id="WH-1",
                from_state=pb.STOCK_STATE_SELLABLE,
                to_state=pb.STOCK_STATE_WRITTEN_OFF,
                quantity=1,
                reason="LOST",
                request_id=RID,
            )
        ),
        "to_state",
        "INVALID_STATE",
    ),
    (
        "a kit component twice",
        lambda i: i.stub.CreateItem(
            pb.CreateItemRequest(
                item=pb.Item(
                    sku="SET",
                    components=[pb.KitComponent(sku="MUG", quantity=1)] * 2,
                ),
                request_id=RID,
            )
        ),
        "item.components",
        "DUPLICATE",
    ),
    (
        "a kit component of 1001 units",
        lambda i: i.stub.CreateItem(
            pb.CreateItemRequest(
                item=pb.Item(sku="SET", components=[pb.KitComponent(sku="MUG", quantity=1001)]),
                request_id=RID,
            )
        ),
        "item.components[0].quantity",
        "OUT_OF_RANGE",
    ),
    (
        "a kit made of itself",
        lambda i: i.stub.CreateItem(
            pb.CreateItemRequest(
                item=pb.Item(sku="SET", components=[pb.KitComponent(sku="SET", quantity=1)]),
                request_id=RID,
            )
        ),
        "item.components[0].sku",
        "KIT_CYCLE",
    ),
    (
        "kit components without a request id",
        lambda i: i.stub.SetKitComponents(
            pb.SetKitComponentsRequest(
                sku="SET", components=[pb.KitComponent(sku="MUG", quantity=1)]
            )
        ),
        "request_id",
        "REQUIRED",
    ),
    (
        "a negative reorder point",
        lambda i: i.stub.SetReorderPoint(
            pb.SetReorderPointRequest(
                sku="MUG", location_id="WH-1", reorder_point=-1, request_id=RID
            )
        ),
        "reorder_point",
        "NEGATIVE",
    ),
    (
        "a bulk call without rows",
        lambda i: i.stub.BatchAdjustStock(pb.BatchAdjustStockRequest()),
        "rows",
        "EMPTY",
    ),
    (
        "receipt against a malformed expected receipt id",
        lambda i: i.stub.ReceiveStock(
            pb.ReceiveStockRequest(
                sku="MUG", location_id="WH-1", quantity=1, expected_receipt_id="P O", request_id=RID
            )
        ),
        "expected_receipt_id",
        "MALFORMED",
    ),
    (
        "policy without a mode",
        lambda i: i.stub.SetInventoryPolicy(
            pb.SetInventoryPolicyRequest(policy=pb.InventoryPolicy(sku="MUG"), request_id=RID)
        ),
        "policy.mode",
        "REQUIRED",
    ),
    (
        "backorder policy without a limit",
        lambda i: i.stub.SetInventoryPolicy(
            pb.SetInventoryPolicyRequest(
                policy=pb.InventoryPolicy(sku="MUG", mode=pb.INVENTORY_POLICY_MODE_BACKORDER),
                request_id=RID,
            )
        ),
        "policy.backorder_limit",
        "REQUIRED",
    ),
    (
        "backorder policy with a negative limit",
        lambda i: i.stub.SetInventoryPolicy(
            pb.SetInventoryPolicyRequest(
                policy=pb.InventoryPolicy(
                    sku="MUG", mode=pb.INVENTORY_POLICY_MODE_BACKORDER, backorder_limit=-1
                ),
                request_id=RID,
            )
        ),
        "policy.backorder_limit",
        "NEGATIVE",
    ),
    (
        "preorder policy without a date",
        lambda i: i.stub.SetInventoryPolicy(
            pb.SetInventoryPolicyRequest(
                policy=pb.InventoryPolicy(sku="MUG", mode=pb.INVENTORY_POLICY_MODE_PREORDER),
                request_id=RID,
            )
        ),
        "policy.preorder_until",
        "REQUIRED",
    ),
    (
        "expected receipt without an expected time",
        lambda i: i.stub.CreateExpectedReceipt(
            pb.CreateExpectedReceiptRequest(
                expected_receipt=pb.ExpectedReceipt(
                    expected_receipt_id="PO-1", sku="MUG", location_id="WH-1", quantity=1
                ),
                request_id=RID,
            )
        ),
        "expected_receipt.expected_time",
        "REQUIRED",
    ),
    (
        "expected receipt of no units",
        lambda i: i.stub.CreateExpectedReceipt(
            pb.CreateExpectedReceiptRequest(
                expected_receipt=pb.ExpectedReceipt(
                    expected_receipt_id="PO-1", sku="MUG", location_id="WH-1", quantity=0
                ),
                request_id=RID,
            )
        ),
        "expected_receipt.quantity",
        "NOT_POSITIVE",
    ),
    (
        "cancel without an id",
        lambda i: i.stub.CancelExpectedReceipt(pb.CancelExpectedReceiptRequest(request_id=RID)),
        "expected_receipt_id",
        "REQUIRED",
    ),
    (
        "expected receipts filtered by a malformed location",
        lambda i: i.stub.ListExpectedReceipts(pb.ListExpectedReceiptsRequest(location_id="a b")),
        "location_id",
        "MALFORMED",
    ),
]


@pytest.mark.parametrize(
    ("call", "field", "reason"),
    [pytest.param(call, field, reason, id=name) for name, call, field, reason in CASES],
)
async def test_bad_input_is_invalid_argument_naming_the_field_and_writes_nothing(
    inventory: Inventory, call: Call, field: str, reason: str
) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 5)

    with pytest.raises(InvalidArgument) as raised:
        await call(inventory)

    assert (field, reason) in {(v.field, v.reason) for v in raised.value.field_violations}
    # A receipt made after the refused call: once the ledger shows it, it shows
    # everything written before it too, so two receipts and nothing else means
    # the refused call wrote nothing.
    await inventory.receive("MUG", "WH-1", 1)
    ledger = await movements_once_visible(inventory, count=2)
    assert [(m.kind, m.on_hand_delta) for m in ledger.movements] == [
        (pb.MOVEMENT_KIND_RECEIPT, 5),
        (pb.MOVEMENT_KIND_RECEIPT, 1),
    ]
    assert (await inventory.level("MUG", "WH-1")).reserved == 0


async def movements_once_visible(inventory: Inventory, count: int) -> pb.ListMovementsResponse:
    """The ledger once it shows ``count`` entries. An entry becomes readable when every
    older transaction of the database has ended (the ledger's horizon, see
    ``store/ledger.py``), a moment after its commit; bounded wait."""
    for _ in range(1000):
        page = await inventory.stub.ListMovements(pb.ListMovementsRequest())
        if len(page.movements) >= count:
            return page
        await asyncio.sleep(0.01)
    raise AssertionError(f"the ledger never showed {count} entries")


async def test_a_repeated_sku_registration_is_already_exists(inventory: Inventory) -> None:
    await inventory.register(["MUG"], [])

    with pytest.raises(AlreadyExists) as raised:
        await inventory.stub.CreateItem(
            pb.CreateItemRequest(item=pb.Item(sku="MUG"), request_id=request_id())
        )

    assert raised.value.reason == "ITEM_EXISTS"
