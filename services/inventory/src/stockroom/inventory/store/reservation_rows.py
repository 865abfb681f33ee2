"""Statements on reservations and the allocations that say where their units are held
(and how many of them were settled)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, one_of
from stockroom.inventory.domain.model import (
    Allocation,
    Page,
    Reservation,
    ReservationLine,
    ReservationState,
    ReservedComponent,
)
from stockroom.inventory.store.tables import (
    reservation_allocations,
    reservation_kit_lines,
    reservations,
)

_r, _a, _k = reservations.c, reservation_allocations.c, reservation_kit_lines.c

_COLUMNS = (
    _r.reservation_id,
    _r.state,
    _r.reference,
    _r.create_time,
    _r.expire_time,
    _r.update_time,
    _r.version,
    _a.line_number,
    _a.sku,
    _a.location_id,
    _a.quantity,
    _a.confirmed,
    _a.released,
    _a.expired,
    _k.kit_sku,
    _k.quantity.label("kits"),
)
# A line's kit and number of kits, when the line is a kit's.
_KIT_LINE = (_k.reservation_id == _a.reservation_id) & (_k.line_number == _a.line_number)


def _with_allocations(dialect: str, *, lock: bool) -> Select[Any]:
    """Reservations and their allocations in one statement (one row per allocation, with
    its line's kit and number of kits when the line is a kit's)."""
    query = (
        select(*_COLUMNS)
        .join(reservation_allocations, _a.reservation_id == _r.reservation_id)
        .outerjoin(reservation_kit_lines, _KIT_LINE)
        .where(one_of(_r.reservation_id, "ids", dialect))
        .order_by(_r.reservation_id, _a.line_number, _a.sku, _a.quantity.desc(), _a.location_id)
    )
    # Only the reservation rows are locked (in id order), not their allocations.
    return query.with_for_update(of=reservations) if lock else query


_READ = {dialect: _with_allocations(dialect, lock=False) for dialect in DIALECTS}
_LOCK = {dialect: _with_allocations(dialect, lock=True) for dialect in DIALECTS}

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


async def load(
    connection: AsyncConnection, reservation_ids: Iterable[str], *, lock: bool = False
) -> dict[str, Reservation]:
    """The reservations with these ids that exist; with ``lock`` their rows are locked
    in id order."""
    ids = sorted(set(reservation_ids))
    if not ids:
        return {}
    statement = (_LOCK if lock else _READ)[connection.dialect.name]
    return _reservations(await connection.execute(statement, {"ids": ids}))


def _reservations(rows: Iterable[Any]) -> dict[str, Reservation]:
    headers: dict[str, Any] = {}
    lines: dict[str, dict[int, list[Allocation]]] = defaultdict(lambda: defaultdict(list))
    kits: dict[tuple[str, int], tuple[str, int]] = {}
    for row in rows:
        headers.setdefault(row.reservation_id, row)
        lines[row.reservation_id][row.line_number].append(
            Allocation(
                row.sku, row.location_id, row.quantity, row.confirmed, row.released, row.expired
            )
        )
        if row.kit_sku is not None:
            kits[(row.reservation_id, row.line_number)] = (row.kit_sku, row.kits)
    return {
        h.reservation_id: Reservation(
            reservation_id=h.reservation_id,
            state=ReservationState(h.state),
            lines=tuple(
                _line(held, kits.get((h.reservation_id, number)))
                for number, held in sorted(lines[h.reservation_id].items())
            ),
            reference=h.reference,
            create_time=h.create_time,
            expire_time=h.expire_time,
            update_time=h.update_time,
            version=h.version,
        )
        for h in headers.values()
    }


def _line(held: list[Allocation], kit: tuple[str, int] | None) -> ReservationLine:
    """A stored line: a stocked item's allocations, or a kit's components' (by SKU)."""
    if kit is None:
        return ReservationLine(held[0].sku, sum(a.quantity for a in held), tuple(held))
    by_component: dict[str, list[Allocation]] = defaultdict(list)
    for allocation in held:
        by_component[allocation.sku].append(allocation)
    components = tuple(
        ReservedComponent(sku, sum(a.quantity for a in taken), tuple(taken))
        for sku, taken in sorted(by_component.items())
    )
    return ReservationLine(kit[0], kit[1], (), components)


async def insert_all(connection: AsyncConnection, created: Sequence[Reservation]) -> None:
    """Insert new reservations, their kit lines and their allocations."""
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
    await connection.execute(
        insert(reservation_allocations),
        [
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
    await connection.execute(
        _UPDATE_SETTLED,
        [
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
        ],
    )


async def list_page(
    connection: AsyncConnection,
    *,
    reference: str,
    state: ReservationState | None,
    after: tuple[datetime, str] | None,
    size: int,
) -> Page[Reservation]:
    """Up to ``size`` reservations after ``after`` (create time, id), oldest first,
    optionally of one reference and in one state; one statement."""
    chosen = select(_r.reservation_id).order_by(_r.create_time, _r.reservation_id).limit(size + 1)
    if reference:
        chosen = chosen.where(_r.reference == reference)
    if state is not None:
        chosen = chosen.where(_r.state == state.value)
    if after is not None:
        chosen = chosen.where(_after(*after))
    query = (
        select(*_COLUMNS)
        .join(reservation_allocations, _a.reservation_id == _r.reservation_id)
        .outerjoin(reservation_kit_lines, _KIT_LINE)
        .where(_r.reservation_id.in_(chosen.scalar_subquery()))
        .order_by(
            _r.create_time,
            _r.reservation_id,
            _a.line_number,
            _a.sku,
            _a.quantity.desc(),
            _a.location_id,
        )
    )
    found = list(_reservations(await connection.execute(query)).values())
    if len(found) <= size:
        return Page(tuple(found), None)
    last = found[size - 1]
    return Page(tuple(found[:size]), (last.create_time.isoformat(), last.reservation_id))


def _after(create_time: datetime, reservation_id: str) -> ColumnElement[bool]:
    return or_(
        _r.create_time > create_time,
        and_(_r.create_time == create_time, _r.reservation_id > reservation_id),
    )


async def prune_settled(connection: AsyncConnection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` reservations settled before ``before`` with their allocations
    and kit lines; how many went. The rows are locked in id order first (the write path's
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
