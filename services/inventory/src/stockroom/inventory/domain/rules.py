"""The rules every movement obeys: which change to make, or the precise error when none
may be made.

``decide`` applies them to a batch of writes; the database's CHECK
constraints on ``stock_levels`` stay the last line of defence behind them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum

from stockroom.inventory.domain import errors
from stockroom.inventory.domain.model import (
    Adjustment,
    Allocation,
    Line,
    LineAvailability,
    MovementKind,
    Reservation,
    ReservationState,
    SafetyStockChange,
    StockLevel,
)


def promisable(
    levels: Iterable[StockLevel],
    location_ids: Collection[str] = (),
    inactive: Collection[str] = (),
) -> list[StockLevel]:
    """The levels stock may be promised from: of active SKUs, at ``location_ids`` if the
    caller names any. ReserveStock allocates from them and CheckAvailability counts them."""
    wanted = set(location_ids)
    return [
        level
        for level in levels
        if level.sku not in inactive and (not wanted or level.location_id in wanted)
    ]


def _candidates(levels: Iterable[StockLevel]) -> dict[str, list[StockLevel]]:
    """Each SKU's levels in the order a line takes from them: most available first, ties to
    the smaller location id."""
    by_sku: dict[str, list[StockLevel]] = defaultdict(list)
    for level in levels:
        by_sku[level.sku].append(level)
    for candidates in by_sku.values():
        candidates.sort(key=lambda lv: (-lv.available, lv.location_id))
    return by_sku


def availability(lines: Sequence[Line], levels: Iterable[StockLevel]) -> list[LineAvailability]:
    """What each line could get from ``levels`` (the promisable ones): the available units
    of its SKU over them. ``allocate`` holds a line exactly when it is satisfiable here."""
    by_sku = _candidates(levels)
    return [
        LineAvailability(line.sku, line.quantity, sum(lv.available for lv in by_sku[line.sku]))
        for line in lines
    ]


def allocate(lines: Sequence[Line], levels: Iterable[StockLevel]) -> list[Allocation]:
    """Pick the locations that serve each line: largest available first.

    Taking from the location with the most available units first serves a
    line from a single location whenever any one location can, and otherwise
    splits it over the fewest locations possible. Ties go to the smaller
    location id, so the same stock always gives the same allocation. Lines are
    all-or-nothing together: one line ``availability`` finds short raises
    InsufficientStock for every short line and allocates nothing.
    """
    levels = list(levels)
    by_sku = _candidates(levels)
    offers = availability(lines, levels)
    shortages = [
        errors.Shortage(o.sku, o.requested, o.available) for o in offers if not o.satisfiable
    ]
    if shortages:
        raise errors.insufficient_stock(shortages)
    allocations: list[Allocation] = []
    for line in lines:
        remaining = line.quantity
        for level in by_sku[line.sku]:
            if remaining == 0 or level.available == 0:
                break
            take = min(level.available, remaining)
            allocations.append(Allocation(line.sku, level.location_id, take))
            remaining -= take
    return allocations


def check_active(skus: Iterable[str], inactive: Mapping[str, str]) -> None:
    """A deactivated SKU takes no new reservation (the first one, in SKU order, is named)."""
    for sku in sorted(set(skus)):
        if sku in inactive:
            raise errors.item_inactive(sku, inactive[sku])


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


def confirm_transition(
    reservation: Reservation, now: datetime, *, partial: bool = False
) -> Transition:
    """Confirming ships what is held: while active and not past its time. Confirming all
    of a confirmed reservation again is a no-op; a part of a settled one is refused."""
    state = effective_state(reservation, now)
    if state is ReservationState.ACTIVE:
        return Transition.APPLY
    if state is ReservationState.CONFIRMED and not partial:
        return Transition.ALREADY_DONE
    raise errors.reservation_not_active(reservation.reservation_id, state)


def release_transition(reservation: Reservation, *, partial: bool = False) -> Transition:
    """Releasing gives stock back: allowed while active (even past its time, which
    only returns the stock sooner), a no-op once all given back, refused once anything
    shipped (CONFIRMED, MIXED); a part of a settled reservation is refused."""
    state = reservation.state
    if state is ReservationState.ACTIVE:
        return Transition.APPLY
    if state in (ReservationState.RELEASED, ReservationState.EXPIRED) and not partial:
        return Transition.ALREADY_DONE
    raise errors.reservation_not_active(reservation.reservation_id, state)


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
    if level.on_hand < 0 or not 0 <= level.reserved <= level.on_hand or level.safety_stock < 0:
        raise BrokenInvariant(f"{level} breaks the level invariants")
