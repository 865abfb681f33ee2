"""The things the inventory talks about: items, locations, stock levels, movements, reservations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Generic, NamedTuple, TypeVar

from stockroom.inventory.domain.supply import (
    Backorder,
    CancelExpectedReceipt,
    CreateExpectedReceipt,
    ExpectedReceipt,
    InventoryPolicy,
    SetPolicy,
)

T = TypeVar("T")

# The error domain of every inventory error (google.rpc.ErrorInfo.domain).
DOMAIN = "inventory.stockroom"


class LocationKind(StrEnum):
    WAREHOUSE = "WAREHOUSE"
    STORE = "STORE"


class MovementKind(StrEnum):
    """What a ledger entry records; each kind touches on_hand, reserved or neither."""

    RECEIPT = "RECEIPT"
    ADJUSTMENT = "ADJUSTMENT"
    TRANSFER_OUT = "TRANSFER_OUT"
    TRANSFER_IN = "TRANSFER_IN"
    RESERVATION = "RESERVATION"
    SHIPMENT = "SHIPMENT"
    RELEASE = "RELEASE"
    EXPIRY = "EXPIRY"
    SAFETY_STOCK = "SAFETY_STOCK"
    # Between stock states (MoveStock), named by where the units go.
    TO_DAMAGED = "TO_DAMAGED"
    TO_QC = "TO_QC"
    TO_SELLABLE = "TO_SELLABLE"
    WRITE_OFF = "WRITE_OFF"
    REORDER_POINT = "REORDER_POINT"
    BACKORDER = "BACKORDER"
    PREORDER = "PREORDER"
    BACKORDER_FILL = "BACKORDER_FILL"
    INCOMING = "INCOMING"
    INCOMING_CANCEL = "INCOMING_CANCEL"


class ReservationState(StrEnum):
    ACTIVE = "ACTIVE"
    CONFIRMED = "CONFIRMED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    # Settled, some units confirmed and the others released or expired (domain/lifecycle.py).
    MIXED = "MIXED"


class ItemState(StrEnum):
    """Whether a SKU may be reserved; an inactive one keeps its stock and reservations."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


@dataclass(frozen=True)
class KitComponent:
    """``quantity`` units of ``sku`` in one kit."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class Item:
    sku: str
    display_name: str
    create_time: datetime
    state: ItemState = ItemState.ACTIVE
    deactivation_reason: str = ""
    # When its name or state last changed (None: never since it was created).
    update_time: datetime | None = None
    # A kit's components (fixed kit-ness: an item is a kit from its creation or never).
    components: tuple[KitComponent, ...] = ()

    @property
    def is_kit(self) -> bool:
        return bool(self.components)


@dataclass(frozen=True)
class Location:
    location_id: str
    display_name: str
    kind: LocationKind
    create_time: datetime


class StockKey(NamedTuple):
    """A (SKU, location) pair. Sorting keys gives the one global lock order. A named tuple:
    deciding a batch hashes and compares keys hundreds of times, and a tuple does that in C
    where a dataclass runs its generated ``__hash__`` and ``__eq__`` in Python."""

    sku: str
    location_id: str


@dataclass(frozen=True)
class StockLevel:
    """The stock of one SKU at one location. ``version`` counts its changes.

    ``backordered``: units reservations wait for here; ``incoming``: units open expected
    receipts still bring here."""

    sku: str
    location_id: str
    on_hand: int
    reserved: int
    safety_stock: int
    version: int
    # Units in the unsellable states: not part of on_hand, never available.
    damaged: int = 0
    quality_control: int = 0
    # Available below this is "below reorder point" (0: no reorder point).
    reorder_point: int = 0
    backordered: int = 0
    incoming: int = 0

    @property
    def key(self) -> StockKey:
        return StockKey(self.sku, self.location_id)

    @property
    def available(self) -> int:
        """Units that can be promised; safety stock above what is free counts as none."""
        return max(0, self.on_hand - self.reserved - self.safety_stock)

    @property
    def unreserved(self) -> int:
        """Units no reservation holds: what may leave the location by transfer."""
        return self.on_hand - self.reserved

    @property
    def etag(self) -> str:
        return str(self.version)


@dataclass(frozen=True)
class Movement:
    """One ledger entry and the level right after it."""

    sequence: int
    kind: MovementKind
    on_hand_delta: int
    reserved_delta: int
    level: StockLevel
    reason: str
    reference: str
    reservation_id: str
    request_id: str
    create_time: datetime
    damaged_delta: int = 0
    quality_control_delta: int = 0
    backordered_delta: int = 0
    incoming_delta: int = 0
    expected_receipt_id: str = ""

    def shifted(self, by: int) -> Movement:
        """This entry ``by`` ledger positions further on: a batch numbers its entries
        from 0 until the apply says where they landed. Built field by field (every
        entry of every batch passes here; ``dataclasses.replace`` cost twice as much)."""
        return Movement(
            self.sequence + by,
            self.kind,
            self.on_hand_delta,
            self.reserved_delta,
            self.level,
            self.reason,
            self.reference,
            self.reservation_id,
            self.request_id,
            self.create_time,
            self.damaged_delta,
            self.quality_control_delta,
            self.backordered_delta,
            self.incoming_delta,
            self.expected_receipt_id,
        )


@dataclass(frozen=True)
class Line:
    """A quantity of one SKU."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class AvailabilityCheck:
    """One CheckAvailability request: its lines, in order, and the locations to count
    (none: every location)."""

    lines: tuple[Line, ...]
    location_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineAvailability:
    sku: str
    requested: int
    available: int
    # For a short line only (requested > available), what backorders, preorders and
    # expected receipts could still do for it.
    backorderable: int = 0
    preorderable: int = 0
    incoming: int = 0
    available_time: datetime | None = None

    @property
    def satisfiable(self) -> bool:
        return self.available >= self.requested


@dataclass(frozen=True)
class Allocation:
    """Units of one SKU reserved at one location, and how many of them were settled
    (confirmed, released or expired) so far; the rest is still held."""

    sku: str
    location_id: str
    quantity: int
    confirmed: int = 0
    released: int = 0
    expired: int = 0

    @property
    def key(self) -> StockKey:
        return StockKey(self.sku, self.location_id)

    @property
    def held(self) -> int:
        return self.quantity - self.confirmed - self.released - self.expired


@dataclass(frozen=True)
class ReservedComponent:
    """What a kit line holds of one component: ``quantity`` units over its allocations."""

    sku: str
    quantity: int
    allocations: tuple[Allocation, ...]


@dataclass(frozen=True)
class ReservationLine:
    sku: str
    quantity: int
    allocations: tuple[Allocation, ...]
    # A kit line holds its components' units (and ``allocations`` is empty).
    components: tuple[ReservedComponent, ...] = ()
    # Units of the line that wait for stock, per location (``domain.supply``).
    backorders: tuple[Backorder, ...] = ()

    def held(self) -> list[Allocation]:
        """Every unit the line holds: its own allocations, or its components'."""
        return [*self.allocations, *(a for c in self.components for a in c.allocations)]

    # What was settled of the line so far, in the line's own units (kits for a kit line:
    # a kit line is settled in whole kits, so its components stay in step).

    @property
    def units_held(self) -> int:
        return self._in_line_units(lambda a: a.held)

    @property
    def units_confirmed(self) -> int:
        return self._in_line_units(lambda a: a.confirmed)

    @property
    def units_released(self) -> int:
        return self._in_line_units(lambda a: a.released)

    @property
    def units_expired(self) -> int:
        return self._in_line_units(lambda a: a.expired)

    def _in_line_units(self, counter: Callable[[Allocation], int]) -> int:
        if not self.components:
            return sum(counter(a) for a in self.allocations)
        first = self.components[0]
        per_kit = first.quantity // self.quantity
        return sum(counter(a) for a in first.allocations) // per_kit

    @property
    def backordered(self) -> int:
        """Units still waiting for stock."""
        return sum(b.outstanding for b in self.backorders)

    @property
    def preorder(self) -> bool:
        return any(b.preorder for b in self.backorders)


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    state: ReservationState
    lines: tuple[ReservationLine, ...]
    reference: str
    create_time: datetime
    expire_time: datetime
    update_time: datetime
    # Counts the reservation's changes: a batch writes only if it is still what it read.
    version: int = 0

    def allocations(self) -> list[Allocation]:
        """Every unit the reservation holds (kit lines: their components')."""
        return [a for line in self.lines for a in line.held()]

    def backorders(self) -> list[Backorder]:
        return [b for line in self.lines for b in line.backorders]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the cursor to continue after it (None on the last page)."""

    items: tuple[T, ...]
    next_cursor: tuple[str | int, ...] | None


# Commands: what a caller asks for, already validated at the edge.


@dataclass(frozen=True)
class Receipt:
    sku: str
    location_id: str
    quantity: int
    reason: str
    reference: str
    # If set, the expected receipt the units settle.
    expected_receipt_id: str = ""


@dataclass(frozen=True)
class Adjustment:
    sku: str
    location_id: str
    on_hand: int
    expected_on_hand: int | None
    reason: str
    reference: str
    # Only if the level's etag still is this (bulk rows may compare-and-set either way).
    etag: str | None = None


@dataclass(frozen=True)
class Transfer:
    sku: str
    from_location_id: str
    to_location_id: str
    quantity: int
    reason: str
    reference: str


@dataclass(frozen=True)
class SafetyStockChange:
    sku: str
    location_id: str
    safety_stock: int
    etag: str | None


@dataclass(frozen=True)
class ReservationRequest:
    lines: tuple[Line, ...]
    ttl: timedelta
    reference: str
    location_ids: tuple[str, ...]


@dataclass(frozen=True)
class LevelChange:
    """The outcome of a movement command: the level after it (and after the backorders
    it filled) and its ledger entry."""

    level: StockLevel
    movement: Movement
    # BACKORDER_FILL entries the change led to, first come first served.
    fills: tuple[Movement, ...] = ()
    # A receipt's expected receipt, after the receipt settled it.
    expected_receipt: ExpectedReceipt | None = None


@dataclass(frozen=True)
class TransferResult:
    from_level: StockLevel
    to_level: StockLevel
    movements: tuple[Movement, ...]
    fills: tuple[Movement, ...] = ()


@dataclass(frozen=True)
class ExpectedReceiptChange:
    """An expected receipt after a create or cancel, its level, and the entry written
    (None when a cancel found it cancelled already)."""

    expected_receipt: ExpectedReceipt
    level: StockLevel
    movement: Movement | None


# Commands that only the service makes (not a caller's payload as such).


@dataclass(frozen=True)
class Reserve:
    """Hold ``request``'s lines under the id the service chose for the new reservation."""

    request: ReservationRequest
    reservation_id: str


@dataclass(frozen=True)
class PartialLine:
    """Part of one reservation line to confirm or release: ``quantity`` units of ``sku``,
    only at ``location_id`` if set."""

    sku: str
    quantity: int
    location_id: str = ""


@dataclass(frozen=True)
class Confirm:
    """Ship what the reservation holds: everything, or only ``lines``."""

    reservation_id: str
    reference: str
    lines: tuple[PartialLine, ...] = ()


@dataclass(frozen=True)
class Release:
    """Give back what the reservation holds: everything, or only ``lines``."""

    reservation_id: str
    reason: str
    lines: tuple[PartialLine, ...] = ()


@dataclass(frozen=True)
class Extend:
    """A later expiry for an active reservation: ``expire_time``, or ``ttl`` from the
    batch's time (exactly one is set)."""

    reservation_id: str
    expire_time: datetime | None = None
    ttl: timedelta | None = None


@dataclass(frozen=True)
class Expire:
    """The sweeper's: give back a reservation whose time ran out (a no-op if it is not)."""

    reservation_id: str


# Unsellable states, bulk changes and reorder points (issue 14, part C).


class StockState(StrEnum):
    """Where units of a level are: only SELLABLE ones are on hand and can be promised."""

    SELLABLE = "SELLABLE"
    DAMAGED = "DAMAGED"
    QUALITY_CONTROL = "QUALITY_CONTROL"
    WRITTEN_OFF = "WRITTEN_OFF"  # gone: only a destination


@dataclass(frozen=True)
class StateMove:
    """Move ``quantity`` units of a level from one stock state to another."""

    sku: str
    location_id: str
    from_state: StockState
    to_state: StockState
    quantity: int
    reason: str
    reference: str


@dataclass(frozen=True)
class StockDelta:
    """Add ``delta`` units to on hand (negative: take away), as a correction; optionally
    only if on hand or the etag still are what the caller saw."""

    sku: str
    location_id: str
    delta: int
    expected_on_hand: int | None
    etag: str | None
    reason: str
    reference: str


@dataclass(frozen=True)
class ReorderPointChange:
    sku: str
    location_id: str
    reorder_point: int
    etag: str | None


Command = (
    Receipt
    | Adjustment
    | Transfer
    | SafetyStockChange
    | Reserve
    | Confirm
    | Release
    | Expire
    | Extend
    | StateMove
    | StockDelta
    | ReorderPointChange
    | SetPolicy
    | CreateExpectedReceipt
    | CancelExpectedReceipt
)
Result = LevelChange | TransferResult | Reservation | InventoryPolicy | ExpectedReceiptChange | None
