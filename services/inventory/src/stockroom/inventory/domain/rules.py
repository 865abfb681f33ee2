"""The rules every movement obeys: which change to make, or the precise error when none
may be made.

``decide`` applies them to a batch of writes; the database's CHECK
constraints on ``stock_levels`` stay the last line of defence behind them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum

from stockroom.inventory.domain import errors
from stockroom.inventory.domain.model import (
    Adjustment,
    Allocation,
    Line,
    MovementKind,
    Reservation,
    ReservationState,
    SafetyStockChange,
    StockLevel,
)


def allocate(lines: Sequence[Line], levels: Iterable[StockLevel]) -> list[Allocation]:
    """Pick the locations that serve each line: largest available first.

    Taking from the location with the most available units first serves a
    line from a single location whenever any one location can, and otherwise
    splits it over the fewest locations possible. Ties go to the smaller
    location id, so the same stock always gives the same allocation. Lines are
    all-or-nothing together: one short line raises InsufficientStock for every
    short line and allocates nothing.
    """
    by_sku: dict[str, list[StockLevel]] = defaultdict(list)
    for level in levels:
        by_sku[level.sku].append(level)
    allocations: list[Allocation] = []
    shortages: list[errors.Shortage] = []
    for line in lines:
        taken, remaining = allocate_line(line, by_sku[line.sku])
        allocations.extend(taken)
        if remaining:
            shortages.append(errors.Shortage(line.sku, line.quantity, line.quantity - remaining))
    if shortages:
        raise errors.insufficient_stock(shortages)
    return allocations


def allocate_line(line: Line, levels: Iterable[StockLevel]) -> tuple[list[Allocation], int]:
    """One line's allocation from ``levels`` (of its SKU), largest available first, and
    the units no level could serve."""
    candidates = sorted(levels, key=lambda lv: (-lv.available, lv.location_id))
    allocations: list[Allocation] = []
    remaining = line.quantity
    for level in candidates:
        if remaining == 0 or level.available == 0:
            break
        take = min(level.available, remaining)
        allocations.append(Allocation(line.sku, level.location_id, take))
        remaining -= take
    return allocations, remaining


def adjustment_delta(level: StockLevel, adjustment: Adjustment) -> int:
    """The on-hand change that sets the count, if the caller's view still holds."""
    if adjustment.expected_on_hand is not None and adjustment.expected_on_hand != level.on_hand:
        raise errors.on_hand_changed(adjustment.expected_on_hand, level.on_hand)
    if adjustment.on_hand < level.reserved:
        raise errors.below_reserved(
            level.sku, level.location_id, adjustment.on_hand, level.reserved
        )
    return adjustment.on_hand - level.on_hand


def check_transfer(source: StockLevel, quantity: int) -> None:
    """Only unreserved units may leave; safety stock is a sales buffer, not a lock."""
    if source.unreserved < quantity:
        raise errors.insufficient_stock(
            [errors.Shortage(source.sku, quantity, max(0, source.unreserved))]
        )


def check_safety_stock_etag(level: StockLevel, change: SafetyStockChange) -> None:
    if change.etag is not None and change.etag != level.etag:
        raise errors.etag_mismatch(change.etag, level.etag)


class Transition(Enum):
    """Whether a requested reservation transition changes anything."""

    APPLY = "APPLY"
    ALREADY_DONE = "ALREADY_DONE"


def effective_state(reservation: Reservation, now: datetime) -> ReservationState:
    """An active reservation past its expiry time is expired, swept or not."""
    if reservation.state is ReservationState.ACTIVE and now >= reservation.expire_time:
        return ReservationState.EXPIRED
    return reservation.state


def confirm_transition(reservation: Reservation, now: datetime) -> Transition:
    state = effective_state(reservation, now)
    if state is ReservationState.ACTIVE:
        return Transition.APPLY
    if state is ReservationState.CONFIRMED:
        return Transition.ALREADY_DONE
    raise errors.reservation_not_active(reservation.reservation_id, state)


def release_transition(reservation: Reservation) -> Transition:
    """Releasing gives stock back: allowed while active (even past its time, which
    only returns the stock sooner), a no-op once given back, refused once shipped."""
    if reservation.state is ReservationState.ACTIVE:
        return Transition.APPLY
    if reservation.state is ReservationState.CONFIRMED:
        raise errors.reservation_not_active(reservation.reservation_id, reservation.state)
    return Transition.ALREADY_DONE


def is_due(reservation: Reservation, now: datetime) -> bool:
    """Whether the sweeper should expire ``reservation`` now."""
    return reservation.state is ReservationState.ACTIVE and now >= reservation.expire_time


# How giving a reservation back moves its units: the ledger kind, and whether
# the units leave on hand too (a shipment) or only reserved.
GIVE_BACK = {
    ReservationState.CONFIRMED: (MovementKind.SHIPMENT, True),
    ReservationState.RELEASED: (MovementKind.RELEASE, False),
    ReservationState.EXPIRED: (MovementKind.EXPIRY, False),
}


class BrokenInvariant(AssertionError):
    """A decision would break a level's invariant: a bug in the rules, never a caller's fault."""


def check_level(level: StockLevel) -> None:
    """Never negative, never more reserved than on hand (the CHECK constraints, in Python)."""
    if (
        level.on_hand < 0
        or not 0 <= level.reserved <= level.on_hand
        or level.safety_stock < 0
        or level.backordered < 0
        or level.incoming < 0
    ):
        raise BrokenInvariant(f"{level} breaks the level invariants")
