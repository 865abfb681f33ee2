"""The rules of backorders and preorders: which policy applies where, how much a
reservation may backorder and where, who is filled first, what a policy change may do.

Plain Python, used by ``decide`` (every write) and by the availability read
(``backorder_room``), so ReserveStock and CheckAvailability apply one rule.
The database guards the result: a policy's outstanding count stays within
its limit, a backorder's filled and cancelled units within its quantity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from stockroom.common.contract import MAX_QUANTITY
from stockroom.inventory.domain import errors, rules
from stockroom.inventory.domain.model import (
    KitComponent,
    Line,
    Reservation,
    ReservationState,
    StockKey,
    StockLevel,
)
from stockroom.inventory.domain.supply import InventoryPolicy, PolicyMode, SetPolicy

# What a preorder policy without a limit may still take: the most a line may ask.
UNLIMITED = MAX_QUANTITY


def policy_key(sku: str, location_id: str = "") -> StockKey:
    """Policies are keyed like levels; the SKU-wide one has an empty location."""
    return StockKey(sku, location_id)


def effective(
    policies: Mapping[StockKey, InventoryPolicy], sku: str, location_id: str
) -> InventoryPolicy | None:
    """The policy at a location: its own, else the SKU-wide one (None: refuse)."""
    return policies.get(policy_key(sku, location_id)) or policies.get(policy_key(sku))


def room(policy: InventoryPolicy, now: datetime) -> int:
    """Units the policy may still take on top of what is outstanding under it."""
    if policy.mode is PolicyMode.REFUSE:
        return 0
    if policy.mode is PolicyMode.PREORDER:
        assert policy.preorder_until is not None
        if now >= policy.preorder_until:
            return 0
        if policy.backorder_limit is None:
            return UNLIMITED
    assert policy.backorder_limit is not None
    return max(0, policy.backorder_limit - policy.backordered)


@dataclass(frozen=True)
class Room:
    """What a SKU's policies may still take at some locations."""

    backorderable: int = 0
    preorderable: int = 0

    @property
    def total(self) -> int:
        return min(UNLIMITED, self.backorderable + self.preorderable)


def backorder_room(
    levels: Iterable[StockLevel], policies: Mapping[StockKey, InventoryPolicy], now: datetime
) -> Room:
    """Units the policies that apply at ``levels`` (of one SKU) may still take: each policy
    counted once, however many of the locations it covers."""
    seen: dict[StockKey, InventoryPolicy] = {}
    for level in levels:
        policy = effective(policies, level.sku, level.location_id)
        if policy is not None:
            seen[policy_key(policy.sku, policy.location_id)] = policy
    backorderable = sum(room(p, now) for p in seen.values() if p.mode is PolicyMode.BACKORDER)
    preorderable = sum(room(p, now) for p in seen.values() if p.mode is PolicyMode.PREORDER)
    return Room(min(UNLIMITED, backorderable), min(UNLIMITED, preorderable))


@dataclass(frozen=True)
class Placement:
    """Units of one line to backorder at one location, charged to one policy."""

    sku: str
    location_id: str
    quantity: int
    preorder: bool
    policy_location: str


def place(
    sku: str,
    shortfall: int,
    levels: Iterable[StockLevel],
    policies: Mapping[StockKey, InventoryPolicy],
    now: datetime,
) -> tuple[list[Placement], int]:
    """Where the units no location has go: to the locations whose policy takes them, those
    with the most incoming first (they are likely filled soonest), ties to the smaller id;
    each location takes what its policy still may. Returns the placements and what is
    left unplaced."""
    rooms: dict[StockKey, int] = {}
    placements: list[Placement] = []
    for level in sorted(levels, key=lambda lv: (-lv.incoming, lv.location_id)):
        if shortfall == 0:
            break
        policy = effective(policies, sku, level.location_id)
        if policy is None:
            continue
        key = policy_key(policy.sku, policy.location_id)
        left = rooms.setdefault(key, room(policy, now))
        take = min(shortfall, left)
        if take:
            placements.append(
                Placement(
                    sku,
                    level.location_id,
                    take,
                    policy.mode is PolicyMode.PREORDER,
                    policy.location_id,
                )
            )
            rooms[key] = left - take
            shortfall -= take
    return placements, shortfall


def allocate(
    lines: Sequence[Line],
    levels: Iterable[StockLevel],
    kits: Mapping[str, Sequence[KitComponent]],
    policies: Mapping[StockKey, InventoryPolicy],
    now: datetime,
) -> tuple[list[rules.LineHold], list[Placement]]:
    """Allocate every line from what is available (``rules.allocate_lines``), and backorder
    what a stocked item's line is short of where the policies allow (kit lines take their
    components or nothing, as before). All or nothing: a line its policies cannot cover
    either raises InsufficientStock, for every such line, with what they could have
    taken."""
    candidates = list(levels)
    placements: list[Placement] = []
    holds = rules.allocate_lines(
        lines, candidates, kits, coverage(candidates, policies, now, placements)
    )
    return holds, placements


def coverage(
    levels: Sequence[StockLevel],
    policies: Mapping[StockKey, InventoryPolicy],
    now: datetime,
    placements: list[Placement] | None = None,
) -> Callable[[Line, int], int]:
    """The ``short`` rule of ``rules.offers``: how many of what a line is short of the
    policies at ``levels`` take (``place``); the placements of a line they cover go to
    ``placements``. ReserveStock and CheckAvailability both ask it."""

    def short(line: Line, available: int) -> int:
        at = [level for level in levels if level.sku == line.sku]
        placed, left = place(line.sku, line.quantity - available, at, policies, now)
        if not left and placements is not None:
            placements.extend(placed)
        return line.quantity - available - left

    return short


@dataclass(frozen=True)
class Waiting:
    """A backorder waiting at a level: its place in the queue and whose it is."""

    queue_position: int
    reservation_id: str
    outstanding: int


def fills(available: int, waiting: Iterable[Waiting]) -> list[tuple[str, int]]:
    """First come, first served: the earliest backorder takes what is available up to what
    it waits for, then the next. Returns (reservation id, units) per backorder filled."""
    filled: list[tuple[str, int]] = []
    for backorder in sorted(waiting, key=lambda w: (w.queue_position, w.reservation_id)):
        if available <= 0:
            break
        take = min(available, backorder.outstanding)
        if take > 0:
            filled.append((backorder.reservation_id, take))
            available -= take
    return filled


def waiting_at(key: StockKey, reservations: Iterable[Reservation]) -> list[Waiting]:
    """The backorders of active reservations waiting at level ``key``."""
    return [
        Waiting(b.queue_position, r.reservation_id, b.outstanding)
        for r in reservations
        if r.state is ReservationState.ACTIVE
        for b in r.backorders()
        if b.outstanding > 0 and StockKey(b.sku, b.location_id) == key
    ]


def check_confirmable(reservation: Reservation) -> None:
    """A reservation ships whole: none of its lines may still wait for stock."""
    waiting = [(line.sku, line.backordered) for line in reservation.lines if line.backordered]
    if waiting:
        raise errors.backorder_pending(reservation.reservation_id, waiting)


def set_policy(
    current: InventoryPolicy | None, command: SetPolicy, now: datetime
) -> InventoryPolicy:
    """The policy after ``command``. Units outstanding stay charged to it whatever the new
    mode (they are filled or given back as before); a limit below them is refused."""
    version = current.version if current is not None else 0
    if command.etag is not None and command.etag != str(version):
        raise errors.etag_mismatch(command.etag, str(version))
    outstanding = current.backordered if current is not None else 0
    limit = command.backorder_limit if command.mode is not PolicyMode.REFUSE else None
    if limit is not None and limit < outstanding:
        raise errors.limit_below_backordered(command.sku, command.location_id, limit, outstanding)
    until = command.preorder_until if command.mode is PolicyMode.PREORDER else None
    return InventoryPolicy(
        command.sku,
        command.location_id,
        command.mode,
        limit,
        until,
        outstanding,
        version + 1,
        now,
    )


def charge(policy: InventoryPolicy, units: int) -> InventoryPolicy:
    """The policy with ``units`` more outstanding (negative: given back or filled)."""
    charged = dataclasses.replace(policy, backordered=policy.backordered + units)
    check_policy(charged)
    return charged


def check_policy(policy: InventoryPolicy) -> None:
    """Never negative, never beyond the limit (the CHECK constraint, in Python). A limit
    only refuses new backorders; a policy set to REFUSE keeps counting what it has."""
    over = policy.backorder_limit is not None and policy.backordered > policy.backorder_limit
    if policy.backordered < 0 or over:
        raise rules.BrokenInvariant(f"{policy} breaks the policy invariants")
