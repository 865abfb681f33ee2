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
)
from stockroom.inventory.store.tables import reservation_allocations, reservations

_r, _a = reservations.c, reservation_allocations.c

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
)


def _with_allocations(dialect: str, *, lock: bool) -> Select[Any]:
    """Reservations and their allocations in one statement (one row per allocation)."""
    query = (
        select(*_COLUMNS)
        .join(reservation_allocations, _a.reservation_id == _r.reservation_id)
        .where(one_of(_r.reservation_id, "ids", dialect))
        .order_by(_r.reservation_id, _a.line_number, _a.quantity.desc(), _a.location_id)
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
    for row in rows:
        headers.setdefault(row.reservation_id, row)
        lines[row.reservation_id][row.line_number].append(
            Allocation(
                row.sku, row.location_id, row.quantity, row.confirmed, row.released, row.expired
            )
        )
    return {
        h.reservation_id: Reservation(
            reservation_id=h.reservation_id,
            state=ReservationState(h.state),
            lines=tuple(
                ReservationLine(held[0].sku, sum(x.quantity for x in held), tuple(held))
                for _, held in sorted(lines[h.reservation_id].items())
            ),
            reference=h.reference,
            create_time=h.create_time,
            expire_time=h.expire_time,
            update_time=h.update_time,
            version=h.version,
        )
        for h in headers.values()
    }


async def insert_all(connection: AsyncConnection, created: Sequence[Reservation]) -> None:
    """Insert new reservations and their allocations (two statements)."""
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
            for allocation in line.allocations
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
                "key_sku": a.sku,
                "key_location_id": a.location_id,
                "new_confirmed": a.confirmed,
                "new_released": a.released,
                "new_expired": a.expired,
            }
            for r in changed
            for a in r.allocations()
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
        .where(_r.reservation_id.in_(chosen.scalar_subquery()))
        .order_by(
            _r.create_time, _r.reservation_id, _a.line_number, _a.quantity.desc(), _a.location_id
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
    """Delete up to ``limit`` reservations settled before ``before`` with their allocations;
    how many went. The rows are locked in id order first (the write path's order), and a
    settled reservation never changes again, so nothing is deleted under a writer."""
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
