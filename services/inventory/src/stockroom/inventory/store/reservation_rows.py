"""Statements on reservations and the allocations that say where their units are held."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.inventory.domain.model import (
    Allocation,
    Reservation,
    ReservationLine,
    ReservationState,
)
from stockroom.inventory.store.tables import reservation_allocations, reservations


async def insert_reservation(connection: AsyncConnection, reservation: Reservation) -> None:
    await connection.execute(
        insert(reservations).values(
            reservation_id=reservation.reservation_id,
            state=reservation.state.value,
            reference=reservation.reference,
            create_time=reservation.create_time,
            expire_time=reservation.expire_time,
            update_time=reservation.update_time,
        )
    )
    await connection.execute(
        insert(reservation_allocations),
        [
            {
                "reservation_id": reservation.reservation_id,
                "line_number": number,
                "sku": allocation.sku,
                "location_id": allocation.location_id,
                "quantity": allocation.quantity,
            }
            for number, line in enumerate(reservation.lines)
            for allocation in line.allocations
        ],
    )


async def load(
    connection: AsyncConnection, reservation_ids: Sequence[str], *, lock: bool = False
) -> list[Reservation]:
    """The reservations with these ids (those that exist), in the order given.

    With ``lock`` their rows are locked (in id order) for a state change.
    """
    if not reservation_ids:
        return []
    query = (
        select(reservations)
        .where(reservations.c.reservation_id.in_(sorted(set(reservation_ids))))
        .order_by(reservations.c.reservation_id)
    )
    if lock:
        query = query.with_for_update()
    headers = {row.reservation_id: row for row in await connection.execute(query)}
    return await _with_allocations(
        connection, [headers[i] for i in reservation_ids if i in headers]
    )


async def lock_due(connection: AsyncConnection, now: datetime, limit: int) -> list[Reservation]:
    """Lock up to ``limit`` active reservations past their expiry, skipping those another
    transaction (another replica's sweeper, a confirm) holds, so sweepers never wait on
    each other and never expire the same reservation twice."""
    query = (
        select(reservations)
        .where(reservations.c.state == ReservationState.ACTIVE.value)
        .where(reservations.c.expire_time <= now)
        .order_by(reservations.c.expire_time)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return await _with_allocations(connection, list(await connection.execute(query)))


async def count_active(connection: AsyncConnection) -> int:
    """How many reservations hold stock now (served by the partial index on active ones)."""
    query = (
        select(func.count())
        .select_from(reservations)
        .where(reservations.c.state == ReservationState.ACTIVE.value)
    )
    return int((await connection.execute(query)).scalar_one())


async def set_state(
    connection: AsyncConnection,
    reservation_ids: Sequence[str],
    state: ReservationState,
    now: datetime,
) -> None:
    await connection.execute(
        update(reservations)
        .where(reservations.c.reservation_id.in_(reservation_ids))
        .values(state=state.value, update_time=now)
    )


async def _with_allocations(
    connection: AsyncConnection, headers: Sequence[Row[Any]]
) -> list[Reservation]:
    if not headers:
        return []
    a = reservation_allocations.c
    rows = await connection.execute(
        select(a.reservation_id, a.line_number, a.sku, a.location_id, a.quantity)
        .where(a.reservation_id.in_([h.reservation_id for h in headers]))
        .order_by(a.reservation_id, a.line_number, a.quantity.desc(), a.location_id)
    )
    lines: dict[str, dict[int, list[Allocation]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        lines[row.reservation_id][row.line_number].append(
            Allocation(row.sku, row.location_id, row.quantity)
        )
    return [
        Reservation(
            reservation_id=h.reservation_id,
            state=ReservationState(h.state),
            lines=tuple(
                ReservationLine(
                    allocations[0].sku, sum(x.quantity for x in allocations), tuple(allocations)
                )
                for _, allocations in sorted(lines[h.reservation_id].items())
            ),
            reference=h.reference,
            create_time=h.create_time,
            expire_time=h.expire_time,
            update_time=h.update_time,
        )
        for h in headers
    ]
