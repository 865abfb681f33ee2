"""The inventory's errors, each with a stable reason callers may branch on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stockroom.common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PreconditionViolation,
    ResourceRef,
)
from stockroom.inventory.domain.model import DOMAIN, ReservationState
from stockroom.inventory.domain.supply import ExpectedReceiptState

ITEM = "stockroom.inventory.v1.Item"
LOCATION = "stockroom.inventory.v1.Location"
RESERVATION = "stockroom.inventory.v1.Reservation"
EXPECTED_RECEIPT = "stockroom.inventory.v1.ExpectedReceipt"
INVENTORY_POLICY = "stockroom.inventory.v1.InventoryPolicy"


@dataclass(frozen=True)
class Shortage:
    sku: str
    requested: int
    available: int
    # Units its inventory policies could have backordered or preordered on top.
    backorderable: int = 0

    @property
    def numbers(self) -> str:
        said = f"requested {self.requested}, available {self.available}"
        if self.backorderable:
            said += f", could backorder {self.backorderable}"
        return said


def insufficient_stock(shortages: Sequence[Shortage]) -> FailedPrecondition:
    """Not enough stock for some lines: one violation per short line, with the numbers."""
    violations = [PreconditionViolation("INSUFFICIENT_STOCK", s.sku, s.numbers) for s in shortages]
    return FailedPrecondition(
        "not enough stock for " + ", ".join(f"{s.sku} ({s.numbers})" for s in shortages),
        reason="INSUFFICIENT_STOCK",
        domain=DOMAIN,
        precondition_violations=violations,
    )


def item_not_found(sku: str) -> NotFound:
    return NotFound(
        f"no item with SKU {sku!r}",
        reason="ITEM_NOT_FOUND",
        domain=DOMAIN,
        resource=ResourceRef(ITEM, sku, "register it with CreateItem first"),
    )


def location_not_found(location_id: str) -> NotFound:
    return NotFound(
        f"no location {location_id!r}",
        reason="LOCATION_NOT_FOUND",
        domain=DOMAIN,
        resource=ResourceRef(LOCATION, location_id, "register it with CreateLocation first"),
    )


def reservation_not_found(reservation_id: str) -> NotFound:
    return NotFound(
        f"no reservation {reservation_id}",
        reason="RESERVATION_NOT_FOUND",
        domain=DOMAIN,
        resource=ResourceRef(RESERVATION, reservation_id),
    )


def item_exists(sku: str) -> AlreadyExists:
    return AlreadyExists(
        f"an item with SKU {sku!r} exists already",
        reason="ITEM_EXISTS",
        domain=DOMAIN,
        resource=ResourceRef(ITEM, sku),
    )


def location_exists(location_id: str) -> AlreadyExists:
    return AlreadyExists(
        f"location {location_id!r} exists already",
        reason="LOCATION_EXISTS",
        domain=DOMAIN,
        resource=ResourceRef(LOCATION, location_id),
    )


def on_hand_changed(expected: int, actual: int) -> Aborted:
    return Aborted(
        f"on hand is {actual}, not the expected {expected}; read it again and recount",
        reason="ON_HAND_CHANGED",
        domain=DOMAIN,
        metadata={"onHand": str(actual)},
    )


def etag_mismatch(expected: str, actual: str) -> Aborted:
    return Aborted(
        f"the stock level changed (etag {actual}, not {expected}); read it again",
        reason="ETAG_MISMATCH",
        domain=DOMAIN,
        metadata={"etag": actual},
    )


def below_reserved(sku: str, location_id: str, on_hand: int, reserved: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"cannot set on hand of {sku} at {location_id} to {on_hand}: {reserved} units are reserved;"
        " release or confirm reservations first",
        reason="BELOW_RESERVED",
        domain=DOMAIN,
        precondition_violations=[
            PreconditionViolation(
                "BELOW_RESERVED", sku, f"{reserved} units reserved at {location_id}"
            )
        ],
    )


_STATE_REASONS = {
    ReservationState.CONFIRMED: "RESERVATION_CONFIRMED",
    ReservationState.RELEASED: "RESERVATION_RELEASED",
    ReservationState.EXPIRED: "RESERVATION_EXPIRED",
    ReservationState.MIXED: "RESERVATION_MIXED",
}


def reservation_not_active(reservation_id: str, state: ReservationState) -> FailedPrecondition:
    """The reservation cannot take this transition any more (``state`` is its real state,
    EXPIRED also when its time ran out but the sweeper has not come by yet)."""
    reason = _STATE_REASONS.get(state, "RESERVATION_NOT_ACTIVE")
    return FailedPrecondition(
        f"reservation {reservation_id} is {state.value.lower()}",
        reason=reason,
        domain=DOMAIN,
        precondition_violations=[PreconditionViolation(reason, reservation_id, state.value)],
        resource=ResourceRef(RESERVATION, reservation_id),
    )


def kit_holds_no_stock(sku: str) -> FailedPrecondition:
    """Stock is counted on a kit's components, never on the kit."""
    return FailedPrecondition(
        f"{sku} is a kit: it holds no stock of its own; receive, count and move its components",
        reason="KIT_HOLDS_NO_STOCK",
        domain=DOMAIN,
        precondition_violations=[
            PreconditionViolation("KIT_HOLDS_NO_STOCK", sku, "a kit holds no stock")
        ],
        resource=ResourceRef(ITEM, sku),
    )


def not_a_kit(sku: str) -> FailedPrecondition:
    """Whether an item is a kit is fixed at its creation."""
    return FailedPrecondition(
        f"{sku} holds stock, it is not a kit: kits are created as kits (CreateItem with"
        " components)",
        reason="NOT_A_KIT",
        domain=DOMAIN,
        precondition_violations=[PreconditionViolation("NOT_A_KIT", sku, "not a kit")],
        resource=ResourceRef(ITEM, sku),
    )


def item_inactive(sku: str, why: str) -> FailedPrecondition:
    """A deactivated SKU takes no new reservation (``why``: the deactivation's reason)."""
    because = f" ({why})" if why else ""
    return FailedPrecondition(
        f"item {sku!r} is deactivated{because}; reactivate it with ReactivateItem to reserve it",
        reason="ITEM_INACTIVE",
        domain=DOMAIN,
        precondition_violations=[PreconditionViolation("ITEM_INACTIVE", sku, why or "deactivated")],
        resource=ResourceRef(ITEM, sku),
    )


@dataclass(frozen=True)
class Overdraw:
    """A part of a reservation line that asks for more than is held."""

    field: str
    sku: str
    location_id: str
    requested: int
    held: int


def not_enough_held(reservation_id: str, overdraws: Sequence[Overdraw]) -> FailedPrecondition:
    """Confirming or releasing more than a line still holds: one violation per such part."""
    violations = [
        PreconditionViolation(
            "NOT_ENOUGH_HELD",
            f"{o.sku}@{o.location_id}" if o.location_id else o.sku,
            f"{o.field}: requested {o.requested}, held {o.held}",
        )
        for o in overdraws
    ]
    return FailedPrecondition(
        f"reservation {reservation_id} does not hold that much: "
        + ", ".join(f"{v.subject} ({v.description})" for v in violations),
        reason="NOT_ENOUGH_HELD",
        domain=DOMAIN,
        precondition_violations=violations,
        resource=ResourceRef(RESERVATION, reservation_id),
    )


def backorder_pending(
    reservation_id: str, waiting: Sequence[tuple[str, int]]
) -> FailedPrecondition:
    """A reservation with lines still waiting for stock cannot ship whole: one violation per
    such line (SKU, units waiting)."""
    return FailedPrecondition(
        f"reservation {reservation_id} still waits for backordered units of "
        + ", ".join(f"{sku} ({units})" for sku, units in waiting)
        + "; confirm it once they are filled, or release it",
        reason="BACKORDER_PENDING",
        domain=DOMAIN,
        precondition_violations=[
            PreconditionViolation("BACKORDER_PENDING", sku, f"{units} units backordered")
            for sku, units in waiting
        ],
        resource=ResourceRef(RESERVATION, reservation_id),
    )


def limit_below_backordered(
    sku: str, location_id: str, limit: int, backordered: int
) -> FailedPrecondition:
    where = f" at {location_id}" if location_id else ""
    return FailedPrecondition(
        f"cannot limit backorders of {sku}{where} to {limit}: {backordered} units are"
        " backordered under this policy; fill or release them first",
        reason="LIMIT_BELOW_BACKORDERED",
        domain=DOMAIN,
        precondition_violations=[
            PreconditionViolation(
                "LIMIT_BELOW_BACKORDERED", sku, f"{backordered} units backordered{where}"
            )
        ],
    )


def expected_receipt_not_found(expected_receipt_id: str) -> NotFound:
    return NotFound(
        f"no expected receipt {expected_receipt_id!r}",
        reason="EXPECTED_RECEIPT_NOT_FOUND",
        domain=DOMAIN,
        resource=ResourceRef(EXPECTED_RECEIPT, expected_receipt_id),
    )


def expected_receipt_exists(expected_receipt_id: str) -> AlreadyExists:
    return AlreadyExists(
        f"expected receipt {expected_receipt_id!r} exists already",
        reason="EXPECTED_RECEIPT_EXISTS",
        domain=DOMAIN,
        resource=ResourceRef(EXPECTED_RECEIPT, expected_receipt_id),
    )


def expected_receipt_closed(
    expected_receipt_id: str, state: ExpectedReceiptState
) -> FailedPrecondition:
    reason = f"EXPECTED_RECEIPT_{state.value}"
    return FailedPrecondition(
        f"expected receipt {expected_receipt_id} is {state.value.lower()}",
        reason=reason,
        domain=DOMAIN,
        precondition_violations=[PreconditionViolation(reason, expected_receipt_id, state.value)],
        resource=ResourceRef(EXPECTED_RECEIPT, expected_receipt_id),
    )


def expected_receipt_mismatch(
    expected_receipt_id: str, expected: tuple[str, str], received: tuple[str, str]
) -> FailedPrecondition:
    return FailedPrecondition(
        f"expected receipt {expected_receipt_id} is for {expected[0]} at {expected[1]},"
        f" not {received[0]} at {received[1]}",
        reason="EXPECTED_RECEIPT_MISMATCH",
        domain=DOMAIN,
        precondition_violations=[
            PreconditionViolation(
                "EXPECTED_RECEIPT_MISMATCH", expected_receipt_id, f"{expected[0]}@{expected[1]}"
            )
        ],
        resource=ResourceRef(EXPECTED_RECEIPT, expected_receipt_id),
    )
