"""The rules of expected receipts: receiving against one, cancelling one, and when the
units a line is short of are expected to be available.

Plain Python, used by ``decide`` and by the availability read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from stockroom.inventory.domain import errors
from stockroom.inventory.domain.model import StockLevel
from stockroom.inventory.domain.rules import Transition
from stockroom.inventory.domain.supply import ExpectedReceipt, ExpectedReceiptState


def receive_against(
    receipt: ExpectedReceipt, sku: str, location_id: str, quantity: int, now: datetime
) -> tuple[ExpectedReceipt, int]:
    """The expected receipt after ``quantity`` units arrived against it, and how many of its
    remaining units they settled (what stops being incoming). Units beyond what it still
    expected are received all the same (a supplier's over-delivery) and settle nothing."""
    if receipt.state is not ExpectedReceiptState.OPEN:
        raise errors.expected_receipt_closed(receipt.expected_receipt_id, receipt.state)
    if (receipt.sku, receipt.location_id) != (sku, location_id):
        raise errors.expected_receipt_mismatch(
            receipt.expected_receipt_id, (receipt.sku, receipt.location_id), (sku, location_id)
        )
    settled = min(quantity, receipt.remaining)
    received = receipt.received + quantity
    state = (
        ExpectedReceiptState.RECEIVED if received >= receipt.quantity else ExpectedReceiptState.OPEN
    )
    return dataclasses.replace(receipt, received=received, state=state, update_time=now), settled


def cancel_transition(receipt: ExpectedReceipt) -> Transition:
    """Cancelling: allowed while open (also partly received), a no-op once cancelled,
    refused once fully received."""
    if receipt.state is ExpectedReceiptState.OPEN:
        return Transition.APPLY
    if receipt.state is ExpectedReceiptState.CANCELLED:
        return Transition.ALREADY_DONE
    raise errors.expected_receipt_closed(receipt.expected_receipt_id, receipt.state)


def available_time(
    shortfall: int, levels: Iterable[StockLevel], receipts: Iterable[ExpectedReceipt]
) -> datetime | None:
    """When open expected receipts are expected to make ``shortfall`` more units available
    (of one SKU, over ``levels``' locations), or None if they never do.

    At each location the arriving units first fill the backorders waiting there and make
    up any safety stock that is not covered (what a receipt does), in expected order;
    only what is left becomes available. The answer is the expected time of the receipt
    with which the units left over all locations reach the shortfall.
    """
    if shortfall <= 0:
        return None
    owed = {
        lv.location_id: lv.backordered + max(0, lv.safety_stock - (lv.on_hand - lv.reserved))
        for lv in levels
    }
    gains: list[tuple[datetime, str, int]] = []
    arrived: dict[str, int] = {}
    open_receipts = [r for r in receipts if r.remaining > 0]
    for receipt in sorted(open_receipts, key=lambda r: (r.expected_time, r.expected_receipt_id)):
        need = owed.get(receipt.location_id, 0)
        before = max(0, arrived.get(receipt.location_id, 0) - need)
        arrived[receipt.location_id] = arrived.get(receipt.location_id, 0) + receipt.remaining
        gain = max(0, arrived[receipt.location_id] - need) - before
        if gain:
            gains.append((receipt.expected_time, receipt.expected_receipt_id, gain))
    total = 0
    for when, _, gain in gains:  # already in expected order
        total += gain
        if total >= shortfall:
            return when
    return None
