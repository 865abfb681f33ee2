"""Statements on reservations, the allocations that say where their units are held (and
how many of them were settled), and the backorders that say where units they still wait
for will come from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    CompoundSelect,
    String,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, DriverRead, one_of, upsert_insert
from stockroom.inventory.domain.model import (
    Allocation,
    Page,
    Reservation,
    ReservationLine,
    ReservationState,
    ReservedComponent,
)
from stockroom.inventory.domain.supply import Backorder
from stockroom.inventory.store.tables import (
    reservation_allocations,
    reservation_backorders,
    reservation_kit_lines,
    reservations,
)

_r, _a, _b = reservations.c, reservation_allocations.c, reservation_backorders.c
_k = reservation_kit_lines.c


def _with_lines(dialect: str, *, waiting: bool) -> CompoundSelect[Any]:
    """Reservations with their allocations (with their line's kit and number of kits when
    the line is a kit's) and backorders, one row each: those named (``ids``), or with
    ``waiting`` those with backorders waiting at levels of ``skus``."""
    header = (_r.reservation_id, _r.state, _r.reference, _r.create_time, _r.expire_time,
              _r.update_time, _r.version)  # fmt: skip
    chosen: ColumnElement[bool]
    if waiting:
        chosen = _r.reservation_id.in_(
            select(_b.reservation_id).where(
                one_of(_b.sku, "skus", dialect), _b.filled + _b.cancelled < _b.quantity
            )
        )
    else:
        chosen = one_of(_r.reservation_id, "ids", dialect)
    allocations = (
        select(
            *header,
            literal("allocation").label("kind"),
            _a.line_number,
            _a.sku,
            _a.location_id,
            _a.quantity,
            _a.confirmed,
            _a.released,
            _a.expired,
            cast(null(), BigInteger).label("filled"),
            cast(null(), BigInteger).label("cancelled"),
            cast(null(), Boolean).label("preorder"),
            cast(null(), String).label("policy_location"),
            cast(null(), BigInteger).label("queue_position"),
            _k.kit_sku,
            _k.quantity.label("kits"),
        )
        .join(reservation_allocations, _a.reservation_id == _r.reservation_id)
        .outerjoin(
            reservation_kit_lines,
            (_k.reservation_id == _a.reservation_id) & (_k.line_number == _a.line_number),
        )
        .where(chosen)
    )
    backorders = (
        select(
            *header,
            literal("backorder"),
            _b.line_number,
            _b.sku,
            _b.location_id,
            _b.quantity,
            cast(null(), BigInteger),
            cast(null(), BigInteger),
            cast(null(), BigInteger),
            _b.filled,
            _b.cancelled,
            _b.preorder,
            _b.policy_location,
            _b.queue_position,
            cast(null(), String),
            cast(null(), BigInteger),
        )
        .join(reservation_backorders, _b.reservation_id == _r.reservation_id)
        .where(chosen)
    )
    return union_all(allocations, backorders)


# Read by every write batch that names reservations (a confirmation, a release) and by
# GetReservation: run by the driver itself (``DriverRead``), rows read by position.
_READ = {dialect: DriverRead(_with_lines(dialect, waiting=False)) for dialect in DIALECTS}
_WAITING = {dialect: DriverRead(_with_lines(dialect, waiting=True)) for dialect in DIALECTS}
# Only the reservation rows are locked (in id order), not their allocations or backorders.
_LOCK = {
    dialect: select(_r.reservation_id)
    .where(one_of(_r.reservation_id, "ids", dialect))
    .order_by(_r.reservation_id)
    .with_for_update()
    for dialect in DIALECTS
}

_UPDATE_HEADER = (
    update(reservations)
    .where(_r.reservation_id == bindparam("key_id"))
    .values(
        state=bindparam("new_state"),
        expire_time=bindparam("new_expire_time"),
        update_time=bindparam("new_time"),
        version=bindparam("new_version"),
    )
)
_UPDATE_SETTLED = (
    update(reservation_allocations)
    .where(
        _a.reservation_id == bindparam("key_id"),
        _a.line_number == bindparam("key_line"),
        _a.sku == bindparam("key_sku"),
        _a.location_id == bindparam("key_location_id"),
    )
    .values(
        confirmed=bindparam("new_confirmed"),
        released=bindparam("new_released"),
        expired=bindparam("new_expired"),
    )
)

_SET_BACKORDER = (
    update(reservation_backorders)
    .where(
        _b.reservation_id == bindparam("key_id"),
        _b.sku == bindparam("key_sku"),
        _b.location_id == bindparam("key_location_id"),
    )
    .values(filled=bindparam("new_filled"), cancelled=bindparam("new_cancelled"))
)


async def load(
    connection: AsyncConnection, reservation_ids: Iterable[str], *, lock: bool = False
) -> dict[str, Reservation]:
    """The reservations with these ids that exist; with ``lock`` their rows are locked
    in id order first."""
    ids = sorted(set(reservation_ids))
    if not ids:
        return {}
    dialect = connection.dialect.name
    if lock:
        await connection.execute(_LOCK[dialect], {"ids": ids})
    return _reservations(await _READ[dialect].rows(connection, {"ids": ids}))


async def load_waiting(connection: AsyncConnection, skus: Iterable[str]) -> dict[str, Reservation]:
    """Every reservation with backorders waiting at levels of ``skus`` (only active ones
    have any). Read with those levels locked, or after reading them unlocked: a change
    to a waiting backorder always changes its level too."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    return _reservations(await _WAITING[connection.dialect.name].rows(connection, {"skus": wanted}))


def _reservations(rows: Iterable[Sequence[Any]]) -> dict[str, Reservation]:
    """Reservations from ``_with_lines``' rows, read by position (``_with_lines``' order)."""
    headers: dict[str, Sequence[Any]] = {}
    held: dict[str, dict[int, list[Allocation]]] = defaultdict(lambda: defaultdict(list))
    waiting: dict[str, dict[int, list[Backorder]]] = defaultdict(lambda: defaultdict(list))
    kits: dict[tuple[str, int], tuple[str, int]] = {}
    for row in rows:
        reservation_id = row[0]
        headers.setdefault(reservation_id, row)
        (kind, line_number, sku, location_id, quantity, confirmed, released, expired,
         filled, cancelled, preorder, policy_location, queue_position, kit_sku,
         kit_count) = row[7:]  # fmt: skip
        if kind == "allocation":
            held[reservation_id][line_number].append(
                Allocation(sku, location_id, quantity, confirmed, released, expired)
            )
            if kit_sku is not None:
                kits[(reservation_id, line_number)] = (kit_sku, kit_count)
        else:
            waiting[reservation_id][line_number].append(
                Backorder(
                    sku,
                    location_id,
                    quantity,
                    filled,
                    cancelled,
                    bool(preorder),
                    policy_location,
                    queue_position,
                )
            )
    return {
        reservation_id: Reservation(
            reservation_id=reservation_id,
            state=ReservationState(state),
            lines=tuple(
                _line(
                    held[reservation_id][n],
                    waiting[reservation_id][n],
                    kits.get((reservation_id, n)),
                )
                for n in sorted(held[reservation_id].keys() | waiting[reservation_id].keys())
            ),
            reference=reference,
            create_time=create_time,
            expire_time=expire_time,
            update_time=update_time,
            version=version,
        )
        for reservation_id, state, reference, create_time, expire_time, update_time, version in (
            header[:7] for _, header in sorted(headers.items())
        )
    }


def _line(
    allocations: list[Allocation], backorders: list[Backorder], kit: tuple[str, int] | None
) -> ReservationLine:
    """A line as the domain builds it: a stocked item's allocations largest first and its
    backorders by location, its quantity what was asked (held, or waiting, or given back
    unfilled); or a kit's components' allocations (by SKU)."""
    allocations.sort(key=lambda a: (a.sku, -a.quantity, a.location_id))
    backorders.sort(key=lambda b: b.location_id)
    if kit is not None:
        by_component: dict[str, list[Allocation]] = defaultdict(list)
        for allocation in allocations:
            by_component[allocation.sku].append(allocation)
        components = tuple(
            ReservedComponent(sku, sum(a.quantity for a in taken), tuple(taken))
            for sku, taken in sorted(by_component.items())
        )
        return ReservationLine(kit[0], kit[1], (), components)
    sku = allocations[0].sku if allocations else backorders[0].sku
    quantity = sum(a.quantity for a in allocations) + sum(b.quantity - b.filled for b in backorders)
    return ReservationLine(sku, quantity, tuple(allocations), backorders=tuple(backorders))


async def insert_all(connection: AsyncConnection, created: Sequence[Reservation]) -> None:
    """Insert new reservations, their kit lines, allocations and backorders (a statement
    each)."""
    if not created:
        return
    await connection.execute(
        insert(reservations),
        [
            {
                "reservation_id": r.reservation_id,
                "state": r.state.value,
                "reference": r.reference,
                "create_time": r.create_time,
                "expire_time": r.expire_time,
                "update_time": r.update_time,
                "version": r.version,
            }
            for r in created
        ],
    )
    kit_lines = [
        {
            "reservation_id": r.reservation_id,
            "line_number": number,
            "kit_sku": line.sku,
            "quantity": line.quantity,
        }
        for r in created
        for number, line in enumerate(r.lines)
        if line.components
    ]
    if kit_lines:
        await connection.execute(insert(reservation_kit_lines), kit_lines)
    held = [
        {
            "reservation_id": r.reservation_id,
            "line_number": number,
            "sku": allocation.sku,
            "location_id": allocation.location_id,
            "quantity": allocation.quantity,
            "confirmed": allocation.confirmed,
            "released": allocation.released,
            "expired": allocation.expired,
        }
        for r in created
        for number, line in enumerate(r.lines)
        for allocation in line.held()
    ]
    if held:  # a reservation may wait for every unit it asked for
        await connection.execute(insert(reservation_allocations), held)
    waiting = [
        _backorder_row(r.reservation_id, number, b)
        for r in created
        for number, line in enumerate(r.lines)
        for b in line.backorders
    ]
    if waiting:
        await connection.execute(insert(reservation_backorders), waiting)


def _backorder_row(reservation_id: str, line_number: int, b: Backorder) -> dict[str, Any]:
    return {
        "reservation_id": reservation_id,
        "line_number": line_number,
        "sku": b.sku,
        "location_id": b.location_id,
        "quantity": b.quantity,
        "filled": b.filled,
        "cancelled": b.cancelled,
        "preorder": b.preorder,
        "policy_location": b.policy_location,
        "queue_position": b.queue_position,
    }


async def write_lines(
    connection: AsyncConnection,
    allocations: Mapping[tuple[str, str, str], tuple[int, int]],
    backorders: Mapping[tuple[str, str, str], Backorder],
) -> None:
    """Set allocations (created where a fill is the first unit held there) and backorders
    of existing reservations to what the decision says, in key order."""
    if allocations:
        statement = upsert_insert(connection, reservation_allocations)
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[_a.reservation_id, _a.line_number, _a.sku, _a.location_id],
                set_={"quantity": statement.excluded.quantity},
            ),
            [
                {
                    "reservation_id": reservation_id,
                    "sku": sku,
                    "location_id": location_id,
                    "line_number": number,
                    "quantity": quantity,
                }
                for (reservation_id, sku, location_id), (number, quantity) in sorted(
                    allocations.items()
                )
            ],
        )
    if backorders:
        await connection.execute(
            _SET_BACKORDER,
            [
                {
                    "key_id": reservation_id,
                    "key_sku": sku,
                    "key_location_id": location_id,
                    "new_filled": b.filled,
                    "new_cancelled": b.cancelled,
                }
                for (reservation_id, sku, location_id), b in sorted(backorders.items())
            ],
        )


async def update_all(connection: AsyncConnection, updated: Mapping[str, Reservation]) -> None:
    """Write locked reservations as they are now: state, expiry, version, and what was
    settled of each allocation (two pipelined round trips)."""
    if not updated:
        return
    changed = [updated[r] for r in sorted(updated)]
    await connection.execute(
        _UPDATE_HEADER,
        [
            {
                "key_id": r.reservation_id,
                "new_state": r.state.value,
                "new_expire_time": r.expire_time,
                "new_time": r.update_time,
                "new_version": r.version,
            }
            for r in changed
        ],
    )
    settled = [
        {
            "key_id": r.reservation_id,
            "key_line": number,
            "key_sku": a.sku,
            "key_location_id": a.location_id,
            "new_confirmed": a.confirmed,
            "new_released": a.released,
            "new_expired": a.expired,
        }
        for r in changed
        for number, line in enumerate(r.lines)
        for a in line.held()
    ]
    if settled:  # a reservation may hold nothing yet (all of it waits as backorders)
        await connection.execute(_UPDATE_SETTLED, settled)


async def list_page(
    connection: AsyncConnection,
    *,
    reference: str,
    state: ReservationState | None,
    after: tuple[datetime, str] | None,
    size: int,
) -> Page[Reservation]:
    """Up to ``size`` reservations after ``after`` (create time, id), oldest first,
    optionally of one reference and in one state: their ids, then the reservations (one
    pruned in between is left out)."""
    chosen = select(_r.reservation_id).order_by(_r.create_time, _r.reservation_id).limit(size + 1)
    if reference:
        chosen = chosen.where(_r.reference == reference)
    if state is not None:
        chosen = chosen.where(_r.state == state.value)
    if after is not None:
        chosen = chosen.where(_after(*after))
    ids = [row[0] for row in await connection.execute(chosen)]
    loaded = await load(connection, ids)
    found = sorted(loaded.values(), key=lambda r: (r.create_time, r.reservation_id))
    if len(ids) <= size:
        return Page(tuple(found), None)
    found = found[:size]
    last = found[-1] if found else None
    if last is None:
        return Page((), None)
    return Page(tuple(found), (last.create_time.isoformat(), last.reservation_id))


def _after(create_time: datetime, reservation_id: str) -> ColumnElement[bool]:
    return or_(
        _r.create_time > create_time,
        and_(_r.create_time == create_time, _r.reservation_id > reservation_id),
    )


async def prune_settled(connection: AsyncConnection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` reservations settled before ``before`` with their allocations,
    kit lines and backorders; how many went. The rows are locked in id order first (the write path's
    order), and a settled reservation never changes again, so nothing is deleted under a
    writer."""
    oldest = (
        select(_r.reservation_id)
        .where(_r.state != ReservationState.ACTIVE.value, _r.update_time < before)
        .order_by(_r.update_time)
        .limit(limit)
    )
    ids = [
        row[0]
        for row in await connection.execute(
            select(_r.reservation_id)
            .where(_r.reservation_id.in_(oldest.scalar_subquery()))
            .order_by(_r.reservation_id)
            .with_for_update()
        )
    ]
    if not ids:
        return 0
    await connection.execute(delete(reservation_allocations).where(_a.reservation_id.in_(ids)))
    await connection.execute(delete(reservation_kit_lines).where(_k.reservation_id.in_(ids)))
    await connection.execute(delete(reservation_backorders).where(_b.reservation_id.in_(ids)))
    await connection.execute(delete(reservations).where(_r.reservation_id.in_(ids)))
    return len(ids)


async def due(connection: AsyncConnection, now: datetime, limit: int) -> list[str]:
    """Ids of up to ``limit`` active reservations past their expiry, soonest first."""
    query = (
        select(_r.reservation_id)
        .where(_r.state == ReservationState.ACTIVE.value, _r.expire_time <= now)
        .order_by(_r.expire_time)
        .limit(limit)
    )
    return [row[0] for row in await connection.execute(query)]


async def count_active(connection: AsyncConnection) -> int:
    """How many reservations hold stock now (served by the partial index on active ones)."""
    query = (
        select(func.count())
        .select_from(reservations)
        .where(_r.state == ReservationState.ACTIVE.value)
    )
    return int((await connection.execute(query)).scalar_one())
