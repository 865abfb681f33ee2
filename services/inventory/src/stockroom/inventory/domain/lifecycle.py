"""A reservation's life after it was made: settling what it holds (all of it or part of a
line, by confirm, release or expiry), the state it ends in, and extending its expiry.

Each allocation counts what was settled from it (``confirmed``, ``released``,
``expired``); the rest is ``held``. A reservation stays ACTIVE while any unit
is held; once none is, its state says how it ended (``final_state``). The
level changes that go with a settlement are ``decide``'s (one ledger entry per
allocation touched).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from stockroom.common.errors import FieldErrors
from stockroom.inventory.domain import errors, rules
from stockroom.inventory.domain.model import (
    DOMAIN,
    Allocation,
    Extend,
    PartialLine,
    Reservation,
    ReservationState,
)

# How long a reservation may hold, from now: when it is made and when it is extended.
MIN_TTL, MAX_TTL = timedelta(seconds=1), timedelta(days=7)

# What each way of settling counts the units as.
_COUNTER = {
    ReservationState.CONFIRMED: "confirmed",
    ReservationState.RELEASED: "released",
    ReservationState.EXPIRED: "expired",
}


@dataclass(frozen=True)
class Take:
    """Units settled from one allocation (``line``: the line's index)."""

    line: int
    allocation: Allocation
    quantity: int


# An allocation within a reservation: (line index, SKU, location). A kit line holds units
# of several components, so the SKU is part of it.
Place = tuple[int, str, str]


def _places(reservation: Reservation) -> dict[Place, Allocation]:
    return {
        (n, a.sku, a.location_id): a
        for n, line in enumerate(reservation.lines)
        for a in line.held()
    }


def takes(reservation: Reservation, parts: Sequence[PartialLine]) -> list[Take]:
    """What settling ``parts`` takes from each allocation; everything held when there
    are no parts.

    A part names a line by its SKU and optionally one location; it takes from the
    line's allocations holding the most first (ties: the smaller location id), so
    the rest stays together. A part of a kit line counts whole kits: it takes that
    many kits' units of every component, each the same way, so the components stay in
    step. Parts are taken in order, each from what the earlier ones left. A SKU that
    is not a line, or a location that holds none of it, is INVALID_ARGUMENT on that
    part's field; more than is held is FAILED_PRECONDITION NOT_ENOUGH_HELD, one
    violation per part (a kit line's in kits). Either way nothing is taken.
    """
    places = _places(reservation)
    if not parts:
        return [Take(n, a, a.held) for (n, _, _), a in places.items() if a.held]
    left = {place: a.held for place, a in places.items()}
    lines = {line.sku: (n, line) for n, line in enumerate(reservation.lines)}
    bad = FieldErrors(domain=DOMAIN)
    overdraws: list[errors.Overdraw] = []
    taken: dict[Place, int] = {}
    for i, part in enumerate(parts):
        found = lines.get(part.sku)
        if found is None:
            bad.add(f"lines[{i}].sku", "is not a line of the reservation", "NOT_IN_RESERVATION")
            continue
        n, line = found
        # What the part needs of each stocked SKU: the line's own, or every component's.
        needs = (
            [(c.sku, c.quantity // line.quantity * part.quantity) for c in line.components]
            if line.components
            else [(line.sku, part.quantity)]
        )
        sources = {
            sku: [
                place
                for place in left
                if place[0] == n
                and place[1] == sku
                and (not part.location_id or place[2] == part.location_id)
            ]
            for sku, _ in needs
        }
        if not all(sources.values()):
            bad.add(
                f"lines[{i}].location_id",
                f"holds none of the reservation's {part.sku}",
                "NOT_IN_RESERVATION",
            )
            continue
        held = {sku: sum(left[place] for place in sources[sku]) for sku, _ in needs}
        if any(held[sku] < units for sku, units in needs):
            per_unit = {sku: units // part.quantity for sku, units in needs}
            can = min(held[sku] // per_unit[sku] for sku, _ in needs)
            overdraws.append(
                errors.Overdraw(f"lines[{i}]", part.sku, part.location_id, part.quantity, can)
            )
            continue
        for sku, units in needs:
            for place in sorted(sources[sku], key=lambda p: (-left[p], p[2])):
                take = min(units, left[place])
                if take:
                    left[place] -= take
                    taken[place] = taken.get(place, 0) + take
                    units -= take
    bad.raise_if_any("the parts do not match the reservation")
    if overdraws:
        raise errors.not_enough_held(reservation.reservation_id, overdraws)
    return [Take(place[0], places[place], units) for place, units in taken.items() if units]


def settled(
    reservation: Reservation,
    taken: Sequence[Take],
    way: ReservationState,
    now: datetime,
    *,
    cancel_waiting: bool = False,
) -> Reservation:
    """The reservation after ``taken`` was settled ``way`` (CONFIRMED, RELEASED or EXPIRED),
    and with ``cancel_waiting`` what still waited for stock cancelled, in the state it is
    then in."""
    counter = _COUNTER[way]
    more = {(t.line, t.allocation.sku, t.allocation.location_id): t.quantity for t in taken}

    def count(n: int, allocations: tuple[Allocation, ...]) -> tuple[Allocation, ...]:
        return tuple(
            _count(a, counter, more.get((n, a.sku, a.location_id), 0)) for a in allocations
        )

    lines = tuple(
        dataclasses.replace(
            line,
            allocations=count(n, line.allocations),
            components=tuple(
                dataclasses.replace(c, allocations=count(n, c.allocations)) for c in line.components
            ),
            backorders=tuple(
                dataclasses.replace(b, cancelled=b.cancelled + b.outstanding)
                if cancel_waiting
                else b
                for b in line.backorders
            ),
        )
        for n, line in enumerate(reservation.lines)
    )
    done = dataclasses.replace(reservation, lines=lines, update_time=now)
    return dataclasses.replace(done, state=final_state(done, way), version=reservation.version + 1)


def _count(allocation: Allocation, counter: str, quantity: int) -> Allocation:
    if not quantity:
        return allocation
    if quantity > allocation.held:
        raise rules.BrokenInvariant(f"settling {quantity} of {allocation}")
    return dataclasses.replace(allocation, **{counter: getattr(allocation, counter) + quantity})


def final_state(reservation: Reservation, way: ReservationState) -> ReservationState:
    """ACTIVE while any unit is held or waits for stock. Then, counted in stocked units (a
    kit line's components): CONFIRMED if nothing was given back (released, expired, or a
    backorder cancelled); if nothing was confirmed, EXPIRED when expiry gave some back
    (or settled it last, ``way``), else RELEASED; otherwise MIXED (some shipped, the rest
    given back)."""
    units = reservation.allocations()
    waiting = reservation.backorders()
    if any(a.held for a in units) or any(b.outstanding for b in waiting):
        return ReservationState.ACTIVE
    confirmed = sum(a.confirmed for a in units)
    given_back = sum(a.released + a.expired for a in units) + sum(b.cancelled for b in waiting)
    if not given_back:
        return ReservationState.CONFIRMED
    if confirmed == 0:
        expired = any(a.expired for a in units) or way is ReservationState.EXPIRED
        return ReservationState.EXPIRED if expired else ReservationState.RELEASED
    return ReservationState.MIXED


def extended(reservation: Reservation, command: Extend, now: datetime) -> Reservation:
    """The reservation with the later expiry, or itself when it already expires then or
    later (an extension never brings an expiry forward).

    Only an active reservation not yet past its time may be extended (the
    state's reason otherwise, RESERVATION_EXPIRED also before the sweeper came
    by). The new expiry must be 1 second to 7 days from now: INVALID_ARGUMENT on
    the field the caller set otherwise.
    """
    state = rules.effective_state(reservation, now)
    if state is not ReservationState.ACTIVE:
        raise errors.reservation_not_active(reservation.reservation_id, state)
    if command.ttl is not None:
        field, new = "ttl", now + command.ttl
    else:
        assert command.expire_time is not None, "an extension names its new expiry"
        field, new = "expire_time", command.expire_time
    if not now + MIN_TTL <= new <= now + MAX_TTL:
        bad = FieldErrors(domain=DOMAIN)
        bad.add(
            field,
            f"must be 1 second to 7 days from now ({now.isoformat()}); got {new.isoformat()}",
            "OUT_OF_RANGE",
        )
        bad.raise_if_any()
    if new <= reservation.expire_time:
        return reservation
    return dataclasses.replace(
        reservation, expire_time=new, update_time=now, version=reservation.version + 1
    )
