"""Reservation use cases: hold stock all-or-nothing, ship it or give it back (all or part),
extend it, expire it, list them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import RequestKey
from stockroom.inventory.domain import errors
from stockroom.inventory.domain.model import (
    Confirm,
    Expire,
    Extend,
    Page,
    PartialLine,
    Release,
    Reservation,
    ReservationRequest,
    ReservationState,
    Reserve,
)
from stockroom.inventory.service.writes import StockWrites
from stockroom.inventory.store import reservation_rows
from stockroom.inventory.store.clock import Clock, utc_now
from stockroom.inventory.store.transactions import Transactions


class ReservationService:
    def __init__(
        self, transactions: Transactions, writes: StockWrites, clock: Clock = utc_now
    ) -> None:
        self._transactions = transactions
        self._writes = writes
        self._clock = clock

    async def reserve(self, request: ReservationRequest, key: RequestKey) -> Reservation:
        """Hold every line or none; INSUFFICIENT_STOCK names each short line."""
        return _reservation(await self._writes.submit(Reserve(request, str(uuid.uuid4())), key))

    async def get(self, reservation_id: str) -> Reservation:
        async def work(connection: AsyncConnection) -> dict[str, Reservation]:
            return await reservation_rows.load(connection, [reservation_id])

        found = await self._transactions.read(work)
        if reservation_id not in found:
            raise errors.reservation_not_found(reservation_id)
        return found[reservation_id]

    async def confirm(
        self,
        reservation_id: str,
        reference: str,
        key: RequestKey,
        lines: Sequence[PartialLine] = (),
    ) -> Reservation:
        """Ship what is held (or only ``lines``): the units leave on hand and reserved.
        Refused once released or expired."""
        command = Confirm(reservation_id, reference, tuple(lines))
        return _reservation(await self._writes.submit(command, key))

    async def release(
        self,
        reservation_id: str,
        reason: str,
        key: RequestKey,
        lines: Sequence[PartialLine] = (),
    ) -> Reservation:
        """Give back what is held (or only ``lines``). A no-op once all given back; refused
        once anything shipped."""
        command = Release(reservation_id, reason, tuple(lines))
        return _reservation(await self._writes.submit(command, key))

    async def extend(
        self,
        reservation_id: str,
        key: RequestKey,
        *,
        expire_time: datetime | None = None,
        ttl: timedelta | None = None,
    ) -> Reservation:
        """A later expiry for an active reservation (never an earlier one)."""
        command = Extend(reservation_id, expire_time, ttl)
        return _reservation(await self._writes.submit(command, key))

    async def listing(
        self,
        *,
        reference: str,
        state: ReservationState | None,
        after: tuple[datetime, str] | None,
        size: int,
    ) -> Page[Reservation]:
        """Reservations oldest first, optionally of one reference and in one state."""

        async def work(connection: AsyncConnection) -> Page[Reservation]:
            return await reservation_rows.list_page(
                connection, reference=reference, state=state, after=after, size=size
            )

        return await self._transactions.read(work)

    async def count_active(self) -> int:
        """Reservations holding stock right now (the ``reservations.held`` gauge)."""
        return await self._transactions.read(reservation_rows.count_active)

    async def expire_due(self, limit: int) -> list[str]:
        """Expire up to ``limit`` reservations past their time; the ids looked at.

        Each goes through the batched writes like any other: one a confirm or
        release (or another replica's sweeper) settled first is left as it is.
        """
        now = self._clock()

        async def work(connection: AsyncConnection) -> list[str]:
            return await reservation_rows.due(connection, now, limit)

        due = await self._transactions.read(work)
        await asyncio.gather(*(self._writes.submit(Expire(r), None) for r in due))
        return due


def _reservation(result: object) -> Reservation:
    assert isinstance(result, Reservation), f"expected a reservation, got {result!r}"
    return result
