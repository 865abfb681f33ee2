"""Reservations: hold stock all-or-nothing, ship it, give it back. One transaction per method.

Lock order in every method: the request record, then reservation rows (by
id), then stock levels (by SKU, then location), then the ledger head. The
sweeper skips reservation rows that are locked instead of waiting for them.

On PostgreSQL the plain cases of reserve, confirm and release run first as
one statement each (``one_statement``: the request record is inserted last
there); when that does not apply, it writes nothing and the transaction
below decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import RequestKey
from stockroom.common.errors import FailedPrecondition
from stockroom.inventory.domain import errors, rules
from stockroom.inventory.domain.model import (
    MovementKind,
    Reservation,
    ReservationLine,
    ReservationRequest,
    ReservationState,
    StockKey,
)
from stockroom.inventory.store import catalog, ledger, levels, one_statement, reservation_rows
from stockroom.inventory.store.clock import Clock, utc_now
from stockroom.inventory.store.idempotent import Work, idempotent_write
from stockroom.inventory.store.ledger import Entry
from stockroom.inventory.store.levels import Delta
from stockroom.inventory.store.transactions import Transactions

R = TypeVar("R")

# How a state change moves units: (movement kind, on_hand sign, reserved sign).
_GIVE_BACK = {
    ReservationState.CONFIRMED: (MovementKind.SHIPMENT, -1, -1),
    ReservationState.RELEASED: (MovementKind.RELEASE, 0, -1),
    ReservationState.EXPIRED: (MovementKind.EXPIRY, 0, -1),
}


class ReservationStore:
    def __init__(
        self,
        transactions: Transactions,
        clock: Clock = utc_now,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._on_commit = on_commit

    async def reserve(self, request: ReservationRequest, key: RequestKey) -> Reservation:
        """Hold every line or none; INSUFFICIENT_STOCK names each short line."""
        if self._transactions.one_statement_writes:
            held = await one_statement.reserve(
                self._transactions, request, str(uuid.uuid4()), key, self._clock()
            )
            if held is not None:
                self._on_commit()
                return held

        async def work(connection: AsyncConnection, now: datetime) -> Reservation:
            skus = [line.sku for line in request.lines]
            locked = await levels.lock_skus(connection, skus, request.location_ids)
            try:
                allocations = rules.allocate(request.lines, locked)
            except FailedPrecondition:
                # An unknown SKU or location is a better answer than "no stock".
                await catalog.require_known(connection, skus, request.location_ids)
                raise
            await catalog.require_known(connection, location_ids=request.location_ids)
            reservation = Reservation(
                reservation_id=str(uuid.uuid4()),
                state=ReservationState.ACTIVE,
                lines=tuple(
                    ReservationLine(
                        line.sku,
                        line.quantity,
                        tuple(a for a in allocations if a.sku == line.sku),
                    )
                    for line in request.lines
                ),
                reference=request.reference,
                create_time=now,
                expire_time=now + request.ttl,
                update_time=now,
            )
            after = await levels.apply(
                connection, [Delta(a.key, 0, a.quantity) for a in allocations]
            )
            await reservation_rows.insert_reservation(connection, reservation)
            await ledger.append(
                connection,
                [
                    Entry(
                        MovementKind.RESERVATION,
                        after[a.key],
                        reserved_delta=a.quantity,
                        reference=request.reference,
                        reservation_id=reservation.reservation_id,
                        request_id=key.request_id,
                    )
                    for a in sorted(allocations, key=lambda a: a.key)
                ],
                now,
            )
            return reservation

        return await self._write(key, Reservation, work)

    async def get(self, reservation_id: str) -> Reservation:
        async def work(connection: AsyncConnection) -> list[Reservation]:
            return await reservation_rows.load(connection, [reservation_id])

        found = await self._transactions.read(work)
        if not found:
            raise errors.reservation_not_found(reservation_id)
        return found[0]

    async def confirm(self, reservation_id: str, reference: str, key: RequestKey) -> Reservation:
        """Ship: the units leave on hand and reserved. Refused once released or expired."""
        shipped = await self._give_back_at_once(
            reservation_id, ReservationState.CONFIRMED, reference, key
        )
        if shipped is not None:
            return shipped

        async def work(connection: AsyncConnection, now: datetime) -> Reservation:
            reservation = await _lock_one(connection, reservation_id)
            if rules.confirm_transition(reservation, now) is rules.Transition.ALREADY_DONE:
                return reservation
            [done] = await _give_back(
                connection,
                [reservation],
                ReservationState.CONFIRMED,
                now,
                reference,
                key.request_id,
            )
            return done

        return await self._write(key, Reservation, work)

    async def release(self, reservation_id: str, reason: str, key: RequestKey) -> Reservation:
        """Give the units back. A no-op once released or expired; refused once shipped."""
        released = await self._give_back_at_once(
            reservation_id, ReservationState.RELEASED, reason, key
        )
        if released is not None:
            return released

        async def work(connection: AsyncConnection, now: datetime) -> Reservation:
            reservation = await _lock_one(connection, reservation_id)
            if rules.release_transition(reservation) is rules.Transition.ALREADY_DONE:
                return reservation
            [done] = await _give_back(
                connection, [reservation], ReservationState.RELEASED, now, reason, key.request_id
            )
            return done

        return await self._write(key, Reservation, work)

    async def count_active(self) -> int:
        """Reservations holding stock right now (the ``reservations.held`` gauge)."""
        return await self._transactions.read(reservation_rows.count_active)

    async def expire_due(self, limit: int) -> list[Reservation]:
        """Expire up to ``limit`` reservations past their time and give their units back.

        Safe to run on every replica at once: each due reservation is locked by
        exactly one sweeper (``SKIP LOCKED``), and one that a confirm or release
        holds is left for the next round.
        """

        async def work(connection: AsyncConnection) -> list[Reservation]:
            now = self._clock()
            due = await reservation_rows.lock_due(connection, now, limit)
            if not due:
                return []
            return await _give_back(connection, due, ReservationState.EXPIRED, now, "", "")

        expired = await self._transactions.write(work)
        if expired:
            self._on_commit()
        return expired

    async def _give_back_at_once(
        self, reservation_id: str, state: ReservationState, note: str, key: RequestKey
    ) -> Reservation | None:
        """The plain case of a confirmation or release as one statement (PostgreSQL);
        None when that does not apply and the transaction must decide."""
        if not self._transactions.one_statement_writes:
            return None
        kind, on_hand_sign, _ = _GIVE_BACK[state]
        done = await one_statement.give_back(
            self._transactions, reservation_id, state, kind, on_hand_sign, note, key, self._clock()
        )
        if done is not None:
            self._on_commit()
        return done

    async def _write(self, key: RequestKey, result_type: type[R], work: Work[R]) -> R:
        result = await idempotent_write(self._transactions, key, result_type, self._clock, work)
        self._on_commit()
        return result


async def _lock_one(connection: AsyncConnection, reservation_id: str) -> Reservation:
    found = await reservation_rows.load(connection, [reservation_id], lock=True)
    if not found:
        raise errors.reservation_not_found(reservation_id)
    return found[0]


async def _give_back(
    connection: AsyncConnection,
    reservations: Sequence[Reservation],
    state: ReservationState,
    now: datetime,
    note: str,
    request_id: str,
) -> list[Reservation]:
    """Move ``reservations`` (locked, active) to ``state`` and take their units off
    reserved (and off on hand, for a shipment), with one ledger entry per allocation."""
    kind, on_hand_sign, reserved_sign = _GIVE_BACK[state]
    owned = sorted(
        ((a, r.reservation_id) for r in reservations for a in r.allocations()),
        key=lambda pair: (pair[0].key, pair[1]),
    )
    before = await levels.lock(connection, [a.key for a, _ in owned])
    deltas: dict[StockKey, Delta] = {}
    for allocation, _ in owned:
        d = deltas.get(allocation.key, Delta(allocation.key, 0, 0, changes=0))
        deltas[allocation.key] = Delta(
            d.key,
            d.on_hand + on_hand_sign * allocation.quantity,
            d.reserved + reserved_sign * allocation.quantity,
            changes=d.changes + 1,
        )
    await levels.apply(connection, list(deltas.values()))
    await reservation_rows.set_state(
        connection, [r.reservation_id for r in reservations], state, now
    )
    entries = []
    running = dict(before)
    for allocation, reservation_id in owned:
        on_hand_delta = on_hand_sign * allocation.quantity
        reserved_delta = reserved_sign * allocation.quantity
        running[allocation.key] = levels.shifted(
            running[allocation.key], on_hand_delta, reserved_delta
        )
        entries.append(
            Entry(
                kind,
                running[allocation.key],
                on_hand_delta=on_hand_delta,
                reserved_delta=reserved_delta,
                reason="" if state is ReservationState.CONFIRMED else note,
                reference=note if state is ReservationState.CONFIRMED else "",
                reservation_id=reservation_id,
                request_id=request_id,
            )
        )
    await ledger.append(connection, entries, now)
    return [
        Reservation(
            r.reservation_id, state, r.lines, r.reference, r.create_time, r.expire_time, now
        )
        for r in reservations
    ]
