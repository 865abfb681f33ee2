"""Statements on reservations and the allocations that say where their units are held."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, one_of
from stockroom.inventory.domain.model import (
    Allocation,
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


def _with_allocations(dialect: str, *, lock: bool) -> Select[Any]:
    """Reservations and their allocations in one statement (one row per allocation, with
    its line's kit and number of kits when the line is a kit's)."""
    query = (
        select(
            _r.reservation_id,
            _r.state,
            _r.reference,
            _r.create_time,
            _r.expire_time,
            _r.update_time,
            _a.line_number,
            _a.sku,
            _a.location_id,
            _a.quantity,
            _k.kit_sku,
            _k.quantity.label("kits"),
        )
        .join(reservation_allocations, _a.reservation_id == _r.reservation_id)
        .outerjoin(
            reservation_kit_lines,
            (_k.reservation_id == _a.reservation_id) & (_k.line_number == _a.line_number),
        )
        .where(one_of(_r.reservation_id, "ids", dialect))
        .order_by(_r.reservation_id, _a.line_number, _a.sku, _a.quantity.desc(), _a.location_id)
    )
    # Only the reservation rows are locked (in id order), not their allocations.
    return query.with_for_update(of=reservations) if lock else query


_READ = {dialect: _with_allocations(dialect, lock=False) for dialect in DIALECTS}
_LOCK = {dialect: _with_allocations(dialect, lock=True) for dialect in DIALECTS}

_SET_STATE = (
    update(reservations)
    .where(_r.reservation_id == bindparam("key_id"))
    .values(state=bindparam("new_state"), update_time=bindparam("new_time"))
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
            Allocation(row.sku, row.location_id, row.quantity)
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
            }
            for r in created
            for number, line in enumerate(r.lines)
            for allocation in line.held()
        ],
    )


async def set_states(
    connection: AsyncConnection, changes: Mapping[str, tuple[ReservationState, datetime]]
) -> None:
    """Move locked reservations to their new states (one pipelined round trip)."""
    if not changes:
        return
    await connection.execute(
        _SET_STATE,
        [
            {"key_id": reservation_id, "new_state": state.value, "new_time": when}
            for reservation_id, (state, when) in sorted(changes.items())
        ],
    )


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
