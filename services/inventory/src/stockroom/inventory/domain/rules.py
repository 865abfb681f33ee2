"""The rules every movement obeys: which change to make, or the precise error when none
may be made.

``decide`` applies them to a batch of writes; the database's CHECK
constraints on ``stock_levels`` stay the last line of defence behind them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
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
    LineAvailability,
    MovementKind,
    Reservation,
    ReservationState,
    ReservedComponent,
    SafetyStockChange,
    StockDelta,
    StockLevel,
)


def promisable(
    levels: Iterable[StockLevel], location_ids: Collection[str] = ()
) -> list[StockLevel]:
    """The levels a request may take from: at ``location_ids`` if the caller names any.
    ReserveStock allocates from them and CheckAvailability counts them."""
    wanted = set(location_ids)
    return [level for level in levels if not wanted or level.location_id in wanted]


def allocate(lines: Sequence[Line], levels: Iterable[StockLevel]) -> list[Allocation]:
    """Pick the locations that serve each line (lines of stocked items only); see
    ``allocate_lines``."""
    return [a for held in allocate_lines(lines, levels, {}) for a in held.allocations]


@dataclass(frozen=True)
class LineHold:
    """What one reservation line holds: its own allocations, or (a kit) its components'."""

    allocations: tuple[Allocation, ...] = ()
    components: tuple[ReservedComponent, ...] = ()


@dataclass(frozen=True)
class LineOffer:
    """What one line of a request could get: ``available`` units (a kit: whole kits) of
    what the lines before it left, and what it takes when that is enough (else None)."""

    line: Line
    available: int
    hold: LineHold | None
    # Units of a short stocked item's line that backorders take care of (``short``).
    covered: int = 0


def offers(
    lines: Sequence[Line],
    levels: Iterable[StockLevel],
    kits: Mapping[str, Sequence[KitComponent]],
    inactive: Collection[str] = (),
    short: Callable[[Line, int], int] | None = None,
) -> list[LineOffer]:
    """Each line's offer, in order: the one rule behind ReserveStock (``allocate_lines``)
    and CheckAvailability (``availability``).

    Taking from the location with the most available units first serves a
    line from a single location whenever any one location can, and otherwise
    splits it over the fewest locations possible. Ties go to the smaller
    location id, so the same stock always gives the same allocation. A kit
    line (its SKU in ``kits``, flattened to stocked items) takes every
    component for all its kits the same way, or nothing. Lines are taken in
    order, each from what the lines before it left; a line that is short (or
    of an ``inactive`` SKU: none available) takes nothing.

    ``short`` (the backorder rules) is asked about a stocked item's line that the
    levels cannot cover: given the line and the units available, it answers how many
    of the rest it takes care of (backorders); if that covers the line, the line holds
    what is available and the rest waits.
    """
    # Units still free, by SKU, then location (what the lines so far left).
    free: dict[str, dict[str, int]] = {}
    for level in levels:
        at = free.get(level.sku)
        if at is None:
            at = free[level.sku] = {}
        at[level.location_id] = level.available
    nowhere: dict[str, int] = {}

    def total(sku: str) -> int:
        return sum(free.get(sku, nowhere).values())

    def take(sku: str, quantity: int) -> tuple[Allocation, ...]:
        at = free.get(sku, nowhere)
        taken: list[Allocation] = []
        remaining = quantity
        for location_id, units_free in sorted(at.items(), key=_most_free_first):
            if remaining == 0 or units_free == 0:
                break
            units = min(units_free, remaining)
            taken.append(Allocation(sku, location_id, units))
            at[location_id] = units_free - units
            remaining -= units
        return tuple(taken)

    found: list[LineOffer] = []
    for line in lines:
        leaves = kits.get(line.sku)
        if line.sku in inactive:
            found.append(LineOffer(line, 0, None))
        elif leaves is None:
            available = total(line.sku)
            covered = 0
            if available < line.quantity and short is not None:
                covered = short(line, available)
            hold = None
            if available + covered >= line.quantity:
                hold = LineHold(allocations=take(line.sku, min(available, line.quantity)))
            found.append(LineOffer(line, available, hold, covered))
        else:
            possible = kit_rules.kits_possible(leaves, {c.sku: total(c.sku) for c in leaves})
            hold = None
            if possible >= line.quantity:
                hold = LineHold(
                    components=tuple(
                        ReservedComponent(
                            c.sku,
                            c.quantity * line.quantity,
                            take(c.sku, c.quantity * line.quantity),
                        )
                        for c in leaves
                    )
                )
            found.append(LineOffer(line, possible, hold))
    return found


def _most_free_first(location: tuple[str, int]) -> tuple[int, str]:
    """``offers``' order among a SKU's locations: most units free, then location id."""
    location_id, units_free = location
    return -units_free, location_id


def availability(
    lines: Sequence[Line],
    levels: Iterable[StockLevel],
    kits: Mapping[str, Sequence[KitComponent]] | None = None,
    inactive: Collection[str] = (),
    short: Callable[[Line, int], int] | None = None,
) -> list[LineAvailability]:
    """What each line could get (``offers``): ``allocate_lines`` (with the same ``short``)
    holds every line exactly when each is satisfiable here or covered by backorders, and
    otherwise names exactly the ones that are not."""
    return [
        LineAvailability(o.line.sku, o.line.quantity, o.available)
        for o in offers(lines, levels, kits or {}, inactive, short)
    ]


def allocate_lines(
    lines: Sequence[Line],
    levels: Iterable[StockLevel],
    kits: Mapping[str, Sequence[KitComponent]],
    short: Callable[[Line, int], int] | None = None,
) -> list[LineHold]:
    """What each line holds (``offers``). Lines are all-or-nothing together: one line
    that is short (beyond what ``short`` covers) raises InsufficientStock for every such
    line (a kit line's shortage counted in whole kits, with what the policies could have
    taken) and allocates nothing."""
    found = offers(lines, levels, kits, short=short)
    shortages = [
        errors.Shortage(o.line.sku, o.line.quantity, o.available, o.covered)
        for o in found
        if o.hold is None
    ]
    if shortages:
        raise errors.insufficient_stock(shortages)
    return [o.hold for o in found if o.hold is not None]


def check_active(skus: Iterable[str], inactive: Mapping[str, str]) -> None:
    """A deactivated SKU takes no new reservation (the first one, in SKU order, is named).
    Its units still serve the kits that contain it."""
    for sku in sorted(set(skus)):
        if sku in inactive:
            raise errors.item_inactive(sku, inactive[sku])


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
