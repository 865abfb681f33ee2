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
    ReservationLine,
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


def takes(reservation: Reservation, parts: Sequence[PartialLine]) -> list[Take]:
    """What settling ``parts`` takes from each allocation; everything held when there
    are no parts.

    A part names a line by its SKU and optionally one location; it takes from the
    line's allocations holding the most first (ties: the smaller location id), so
    the rest stays together. Parts are taken in order, each from what the earlier
    ones left. A SKU that is not a line, or a location that holds none of it, is
    INVALID_ARGUMENT on that part's field; more than is held is FAILED_PRECONDITION
    NOT_ENOUGH_HELD, one violation per part. Either way nothing is taken.
    """
    if not parts:
        return [
            Take(n, a, a.held)
            for n, line in enumerate(reservation.lines)
            for a in line.allocations
            if a.held
        ]
    left = {
        (n, a.location_id): a.held
        for n, line in enumerate(reservation.lines)
        for a in line.allocations
    }
    lines = {line.sku: (n, line) for n, line in enumerate(reservation.lines)}
    bad = FieldErrors(domain=DOMAIN)
    overdraws: list[errors.Overdraw] = []
    taken: dict[tuple[int, str], int] = {}
    for i, part in enumerate(parts):
        found = lines.get(part.sku)
        if found is None:
            bad.add(f"lines[{i}].sku", "is not a line of the reservation", "NOT_IN_RESERVATION")
            continue
        n, line = found
        sources = [
            a for a in line.allocations if not part.location_id or a.location_id == part.location_id
        ]
        if not sources:
            bad.add(
                f"lines[{i}].location_id",
                f"holds none of the reservation's {part.sku}",
                "NOT_IN_RESERVATION",
            )
            continue
        sources.sort(key=lambda a: (-left[n, a.location_id], a.location_id))
        held = sum(left[n, a.location_id] for a in sources)
        if part.quantity > held:
            overdraws.append(
                errors.Overdraw(f"lines[{i}]", part.sku, part.location_id, part.quantity, held)
            )
            continue
        wanted = part.quantity
        for a in sources:
            take = min(wanted, left[n, a.location_id])
            if take:
                left[n, a.location_id] -= take
                taken[n, a.location_id] = taken.get((n, a.location_id), 0) + take
                wanted -= take
    bad.raise_if_any("the parts do not match the reservation")
    if overdraws:
        raise errors.not_enough_held(reservation.reservation_id, overdraws)
    return [
        Take(n, a, taken[n, a.location_id])
        for n, line in enumerate(reservation.lines)
        for a in line.allocations
        if taken.get((n, a.location_id))
    ]


def settled(
    reservation: Reservation, taken: Sequence[Take], way: ReservationState, now: datetime
) -> Reservation:
    """The reservation after ``taken`` was settled ``way`` (CONFIRMED, RELEASED or EXPIRED),
    in the state it is then in."""
    counter = _COUNTER[way]
    more = {(t.line, t.allocation.location_id): t.quantity for t in taken}
    lines = tuple(
        dataclasses.replace(
            line,
            allocations=tuple(
                _count(a, counter, more.get((n, a.location_id), 0)) for a in line.allocations
            ),
        )
        for n, line in enumerate(reservation.lines)
    )
    return dataclasses.replace(
        reservation,
        lines=lines,
        state=final_state(lines),
        update_time=now,
        version=reservation.version + 1,
    )


def _count(allocation: Allocation, counter: str, quantity: int) -> Allocation:
    if not quantity:
        return allocation
    if quantity > allocation.held:
        raise rules.BrokenInvariant(f"settling {quantity} of {allocation}")
    return dataclasses.replace(allocation, **{counter: getattr(allocation, counter) + quantity})


def final_state(lines: Sequence[ReservationLine]) -> ReservationState:
    """ACTIVE while anything is held. Then: CONFIRMED if every unit was confirmed;
    if none was, EXPIRED when expiry gave some back, else RELEASED; otherwise MIXED
    (some shipped, the rest given back)."""
    if any(line.held for line in lines):
        return ReservationState.ACTIVE
    confirmed = sum(line.confirmed for line in lines)
    if confirmed == sum(line.quantity for line in lines):
        return ReservationState.CONFIRMED
    if confirmed == 0:
        expired = any(line.expired for line in lines)
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
