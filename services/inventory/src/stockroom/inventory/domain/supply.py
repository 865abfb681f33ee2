"""Values and commands of backorders, preorders and expected receipts.

Kept apart from ``model`` so the supply side of the inventory reads in one
place: inventory policies (what a SKU does with demand beyond what is on
hand), the backorders reservation lines wait on, and expected receipts
(stock on its way). ``model`` imports these; nothing here imports ``model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PolicyMode(StrEnum):
    """What a reservation short of stock gets."""

    REFUSE = "REFUSE"  # INSUFFICIENT_STOCK (the default, and what no policy means)
    BACKORDER = "BACKORDER"  # backordered, up to the policy's limit outstanding
    PREORDER = "PREORDER"  # preordered before the policy's date (and within its limit, if any)


@dataclass(frozen=True)
class InventoryPolicy:
    """A SKU's policy at one location, or at every location (``location_id`` empty) that
    has none of its own. ``backordered`` counts the units outstanding under it: charged
    when a reservation backorders, given back when they are filled, released or expire.
    ``version`` counts changes of the settings only (its etag), not of the count."""

    sku: str
    location_id: str
    mode: PolicyMode
    backorder_limit: int | None
    preorder_until: datetime | None
    backordered: int
    version: int
    update_time: datetime

    @property
    def etag(self) -> str:
        return str(self.version)


@dataclass(frozen=True)
class Backorder:
    """Units of one reservation line waiting for stock at one location.

    ``queue_position`` orders the waiting backorders of one level first come,
    first served: the level's version right after the entry that backordered
    them (each level's versions grow in the order its changes are decided).
    ``policy_location`` names the policy charged for them (empty: the SKU-wide one).
    """

    sku: str
    location_id: str
    quantity: int
    filled: int
    cancelled: int
    preorder: bool
    policy_location: str
    queue_position: int

    @property
    def outstanding(self) -> int:
        return self.quantity - self.filled - self.cancelled


class ExpectedReceiptState(StrEnum):
    OPEN = "OPEN"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class ExpectedReceipt:
    """Stock on its way: a purchase order or advance shipping notice line."""

    expected_receipt_id: str
    sku: str
    location_id: str
    quantity: int
    received: int
    state: ExpectedReceiptState
    expected_time: datetime
    reference: str
    create_time: datetime
    update_time: datetime

    @property
    def remaining(self) -> int:
        """Units still incoming."""
        if self.state is not ExpectedReceiptState.OPEN:
            return 0
        return max(0, self.quantity - self.received)


# Commands.


@dataclass(frozen=True)
class SetPolicy:
    sku: str
    location_id: str
    mode: PolicyMode
    backorder_limit: int | None
    preorder_until: datetime | None
    etag: str | None


@dataclass(frozen=True)
class CreateExpectedReceipt:
    expected_receipt_id: str
    sku: str
    location_id: str
    quantity: int
    expected_time: datetime
    reference: str


@dataclass(frozen=True)
class CancelExpectedReceipt:
    expected_receipt_id: str
    reason: str
