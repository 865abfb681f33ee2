"""The rules every movement obeys: which change to make, or the precise error when none
may be made.

``decide`` applies them to a batch of writes; the database's CHECK
constraints on ``stock_levels`` stay the last line of defence behind them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from stockroom.inventory.domain import errors
from stockroom.inventory.domain import kits as kit_rules
from stockroom.inventory.domain.model import (
    Adjustment,
    Allocation,
    KitComponent,
    Line,
    MovementKind,
    Reservation,
    ReservationState,
    ReservedComponent,
    SafetyStockChange,
    StockDelta,
    StockKey,
    StockLevel,
)


def allocate(lines: Sequence[Line], levels: Iterable[StockLevel]) -> list[Allocation]:
    """Pick the locations that serve each line (lines of stocked items only); see
    ``allocate_lines``."""
    return [a for held in allocate_lines(lines, levels, {}) for a in held.allocations]


@dataclass(frozen=True)
class LineHold:
    """What one reservation line holds: its own allocations, or (a kit) its components'."""

    allocations: tuple[Allocation, ...] = ()
    components: tuple[ReservedComponent, ...] = ()


def allocate_lines(
    lines: Sequence[Line],
    levels: Iterable[StockLevel],
    kits: Mapping[str, Sequence[KitComponent]],
    short: Callable[[Line, int], int] | None = None,
) -> list[LineHold]:
    """Pick the locations that serve each line: largest available first.

    Taking from the location with the most available units first serves a
    line from a single location whenever any one location can, and otherwise
    splits it over the fewest locations possible. Ties go to the smaller
    location id, so the same stock always gives the same allocation. A kit
    line (its SKU in ``kits``, flattened to stocked items) takes every
    component for all its kits the same way, or nothing. Lines are taken in
    order, each from what the lines before it left. Lines are all-or-nothing
    together: one short line raises InsufficientStock for every short line
    (a kit line's shortage counted in whole kits) and allocates nothing.

    ``short`` (the backorder rules) is asked about a stocked item's line that the
    levels cannot cover: given the line and the units available, it answers how many
    of the rest it takes care of (backorders); the line then holds what is available.
    """
    free: dict[StockKey, int] = {}
    by_sku: dict[str, list[StockKey]] = defaultdict(list)
    for level in levels:
        free[level.key] = level.available
        by_sku[level.sku].append(level.key)

    def total(sku: str) -> int:
        return sum(free[key] for key in by_sku[sku])

    def take(sku: str, quantity: int) -> tuple[Allocation, ...]:
        taken: list[Allocation] = []
        remaining = quantity
        for key in sorted(by_sku[sku], key=lambda k: (-free[k], k.location_id)):
            if remaining == 0 or free[key] == 0:
                break
            units = min(free[key], remaining)
            taken.append(Allocation(sku, key.location_id, units))
            free[key] -= units
            remaining -= units
        return tuple(taken)

    holds: list[LineHold] = []
    shortages: list[errors.Shortage] = []
    for line in lines:
        leaves = kits.get(line.sku)
        if leaves is None:
            available = total(line.sku)
            if available < line.quantity:
                covered = short(line, available) if short is not None else 0
                if available + covered < line.quantity:
                    shortages.append(errors.Shortage(line.sku, line.quantity, available, covered))
                    continue
            holds.append(LineHold(allocations=take(line.sku, min(available, line.quantity))))
            continue
        possible = kit_rules.kits_possible(leaves, {c.sku: total(c.sku) for c in leaves})
        if possible < line.quantity:
            shortages.append(errors.Shortage(line.sku, line.quantity, possible))
            continue
        holds.append(
            LineHold(
                components=tuple(
                    ReservedComponent(
                        c.sku, c.quantity * line.quantity, take(c.sku, c.quantity * line.quantity)
                    )
                    for c in leaves
                )
            )
        )
    if shortages:
        raise errors.insufficient_stock(shortages)
    return holds


def adjustment_delta(level: StockLevel, adjustment: Adjustment | StockDelta) -> int:
    """The on-hand change that sets the count (or adds the delta), if the caller's view
    still holds; never below the reserved units."""
    check_seen(level, adjustment.expected_on_hand, adjustment.etag)
    if isinstance(adjustment, StockDelta):
        on_hand = level.on_hand + adjustment.delta
    else:
        on_hand = adjustment.on_hand
    if on_hand < level.reserved:
        raise errors.below_reserved(level.sku, level.location_id, on_hand, level.reserved)
    return on_hand - level.on_hand


def check_seen(level: StockLevel, expected_on_hand: int | None, etag: str | None) -> None:
    """Compare-and-set: the level must still show what the caller read (either or both)."""
    if expected_on_hand is not None and expected_on_hand != level.on_hand:
        raise errors.on_hand_changed(expected_on_hand, level.on_hand)
    if etag is not None and etag != level.etag:
        raise errors.etag_mismatch(etag, level.etag)


def check_transfer(source: StockLevel, quantity: int) -> None:
    """Only unreserved units may leave; safety stock is a sales buffer, not a lock."""
    if source.unreserved < quantity:
        raise errors.insufficient_stock(
            [errors.Shortage(source.sku, quantity, max(0, source.unreserved))]
        )


def check_safety_stock_etag(level: StockLevel, change: SafetyStockChange) -> None:
    check_seen(level, None, change.etag)


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
        or level.damaged < 0
        or level.quality_control < 0
        or level.reorder_point < 0
        or level.backordered < 0
        or level.incoming < 0
    ):
        raise BrokenInvariant(f"{level} breaks the level invariants")
