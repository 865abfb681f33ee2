"""Expected receipts over gRPC on SQLite and PostgreSQL: incoming on levels and in the
ledger, receiving against one (partly, fully, wrongly), cancelling, listing, and when a
short line is expected to be available."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stockroom.common.errors import AlreadyExists, FailedPrecondition, NotFound
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb


async def registered(inventory: Inventory) -> Inventory:
    await inventory.register(["MUG", "TEE"], ["WH-1", "WH-2"])
    return inventory


def receive_against(
    expected_receipt_id: str, quantity: int, sku: str = "MUG", location_id: str = "WH-1"
) -> pb.ReceiveStockRequest:
    return pb.ReceiveStockRequest(
        sku=sku,
        location_id=location_id,
        quantity=quantity,
        expected_receipt_id=expected_receipt_id,
        request_id=request_id(),
    )


async def test_an_expected_receipt_is_incoming_until_it_arrives(inventory: Inventory) -> None:
    await registered(inventory)
    soon = inventory.clock.now + timedelta(days=3)

    created = await inventory.expect("PO-1", "MUG", "WH-1", 10, soon)
    partly = await inventory.stub.ReceiveStock(receive_against("PO-1", 4))
    rest = await inventory.stub.ReceiveStock(receive_against("PO-1", 7))

    assert created.expected_receipt.state == pb.EXPECTED_RECEIPT_STATE_OPEN
    assert created.expected_receipt.expected_time.ToDatetime().date() == soon.date()
    assert (created.level.incoming, created.movement.kind) == (10, pb.MOVEMENT_KIND_INCOMING)
    assert created.movement.expected_receipt_id == "PO-1"
    assert (partly.level.on_hand, partly.level.incoming) == (4, 6)
    assert partly.movement.incoming_delta == -4
    assert (partly.expected_receipt.remaining, partly.expected_receipt.state) == (
        6,
        pb.EXPECTED_RECEIPT_STATE_OPEN,
    )
    assert (rest.level.on_hand, rest.level.incoming) == (11, 0)  # one more than expected
    assert rest.movement.incoming_delta == -6
    assert (rest.expected_receipt.received, rest.expected_receipt.state) == (
        11,
        pb.EXPECTED_RECEIPT_STATE_RECEIVED,
    )
    with pytest.raises(FailedPrecondition) as closed:
        await inventory.stub.ReceiveStock(receive_against("PO-1", 1))
    assert closed.value.reason == "EXPECTED_RECEIPT_RECEIVED"


async def test_receiving_against_the_wrong_or_an_unknown_expected_receipt_changes_nothing(
    inventory: Inventory,
) -> None:
    await registered(inventory)
    await inventory.expect("PO-1", "MUG", "WH-1", 10, inventory.clock.now)

    with pytest.raises(FailedPrecondition) as other_sku:
        await inventory.stub.ReceiveStock(receive_against("PO-1", 1, sku="TEE"))
    with pytest.raises(FailedPrecondition) as other_place:
        await inventory.stub.ReceiveStock(receive_against("PO-1", 1, location_id="WH-2"))
    with pytest.raises(NotFound) as unknown:
        await inventory.stub.ReceiveStock(receive_against("PO-9", 1))

    assert other_sku.value.reason == other_place.value.reason == "EXPECTED_RECEIPT_MISMATCH"
    assert unknown.value.reason == "EXPECTED_RECEIPT_NOT_FOUND"
    level = await inventory.level("MUG", "WH-1")
    assert (level.on_hand, level.incoming) == (0, 10)


async def test_an_id_is_used_once_but_a_retry_gets_the_same_answer(inventory: Inventory) -> None:
    await registered(inventory)
    receipt = pb.ExpectedReceipt(
        expected_receipt_id="ASN-7", sku="MUG", location_id="WH-1", quantity=5
    )
    receipt.expected_time.FromDatetime(inventory.clock.now)
    request = pb.CreateExpectedReceiptRequest(expected_receipt=receipt, request_id=request_id())

    first = await inventory.stub.CreateExpectedReceipt(request)
    again = await inventory.stub.CreateExpectedReceipt(request)
    with pytest.raises(AlreadyExists) as taken:
        await inventory.expect("ASN-7", "TEE", "WH-2", 1, inventory.clock.now)

    assert again == first
    assert taken.value.reason == "EXPECTED_RECEIPT_EXISTS"
    assert (await inventory.level("MUG", "WH-1")).incoming == 5


async def test_cancelling_takes_what_is_still_expected_off_incoming(inventory: Inventory) -> None:
    await registered(inventory)
    await inventory.expect("PO-1", "MUG", "WH-1", 10, inventory.clock.now)
    await inventory.stub.ReceiveStock(receive_against("PO-1", 3))
    cancel = pb.CancelExpectedReceiptRequest(
        expected_receipt_id="PO-1", reason="supplier out", request_id=request_id()
    )

    cancelled = await inventory.stub.CancelExpectedReceipt(cancel)
    again = await inventory.stub.CancelExpectedReceipt(
        pb.CancelExpectedReceiptRequest(expected_receipt_id="PO-1", request_id=request_id())
    )
    await inventory.expect("PO-2", "MUG", "WH-1", 2, inventory.clock.now)
    await inventory.stub.ReceiveStock(receive_against("PO-2", 2))
    with pytest.raises(FailedPrecondition) as received:
        await inventory.stub.CancelExpectedReceipt(
            pb.CancelExpectedReceiptRequest(expected_receipt_id="PO-2", request_id=request_id())
        )

    assert cancelled.expected_receipt.state == pb.EXPECTED_RECEIPT_STATE_CANCELLED
    assert (cancelled.movement.kind, cancelled.movement.incoming_delta) == (
        pb.MOVEMENT_KIND_INCOMING_CANCEL,
        -7,
    )
    assert cancelled.movement.reason == "supplier out"
    assert (cancelled.level.on_hand, cancelled.level.incoming) == (3, 0)
    assert not again.HasField("movement")
    assert again.expected_receipt.state == pb.EXPECTED_RECEIPT_STATE_CANCELLED
    assert received.value.reason == "EXPECTED_RECEIPT_RECEIVED"


async def test_listing_soonest_first_with_filters_and_pages(inventory: Inventory) -> None:
    await registered(inventory)
    now = inventory.clock.now
    for number, (sku, location, days) in enumerate(
        [("MUG", "WH-1", 5), ("MUG", "WH-2", 1), ("TEE", "WH-1", 3), ("MUG", "WH-1", 2)]
    ):
        await inventory.expect(f"PO-{number}", sku, location, 1, now + timedelta(days=days))
    await inventory.stub.CancelExpectedReceipt(
        pb.CancelExpectedReceiptRequest(expected_receipt_id="PO-2", request_id=request_id())
    )

    async def listed(**filters: object) -> list[str]:
        ids: list[str] = []
        token = ""
        for _ in range(10):
            page = await inventory.stub.ListExpectedReceipts(
                pb.ListExpectedReceiptsRequest(page_size=1, page_token=token, **filters)  # type: ignore[arg-type]
            )
            ids += [e.expected_receipt_id for e in page.expected_receipts]
            token = page.next_page_token
            if not token:
                return ids
        raise AssertionError("too many pages")

    assert await listed() == ["PO-1", "PO-3", "PO-0"]
    assert await listed(include_closed=True) == ["PO-1", "PO-3", "PO-2", "PO-0"]
    assert await listed(sku="MUG", location_id="WH-1") == ["PO-3", "PO-0"]


async def test_a_short_line_says_when_expected_receipts_cover_it_after_what_waits(
    inventory: Inventory,
) -> None:
    await registered(inventory)
    now = inventory.clock.now
    await inventory.receive("MUG", "WH-1", 2)
    await inventory.set_policy("MUG", pb.INVENTORY_POLICY_MODE_BACKORDER, limit=3)
    await inventory.reserve({"MUG": 5})  # 2 held, 3 waiting at WH-1
    await inventory.expect("PO-A", "MUG", "WH-1", 4, now + timedelta(days=2))  # 3 fill, 1 left
    await inventory.expect("PO-B", "MUG", "WH-2", 2, now + timedelta(days=4))
    await inventory.expect("PO-C", "MUG", "WH-1", 10, now + timedelta(days=9))

    answer = await inventory.stub.CheckAvailability(
        pb.CheckAvailabilityRequest(
            lines=[
                pb.AvailabilityLine(sku="MUG", quantity=1),
                pb.AvailabilityLine(sku="MUG", quantity=3),
                pb.AvailabilityLine(sku="MUG", quantity=4),
                pb.AvailabilityLine(sku="MUG", quantity=99),
                pb.AvailabilityLine(sku="TEE", quantity=1),
            ]
        )
    )

    days = [
        (line.available_time.ToDatetime() - now.replace(tzinfo=None)).days
        if line.HasField("available_time")
        else None
        for line in answer.lines
    ]
    assert days == [2, 4, 9, None, None]
    assert [line.incoming for line in answer.lines] == [16, 16, 16, 16, 0]
    assert answer.lines[0].backorderable == 0  # the policy's 3 are taken


async def test_listing_expected_receipts_when_there_are_none_is_an_empty_page(
    inventory: Inventory,
) -> None:
    """The fuzz found an empty listing answering INTERNAL."""
    page = await inventory.stub.ListExpectedReceipts(pb.ListExpectedReceiptsRequest(sku="MUG"))

    assert (list(page.expected_receipts), page.next_page_token) == ([], "")
