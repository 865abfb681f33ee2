"""The append-only ledger: every change to a level is one row, numbered in commit order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.inventory.domain.model import Movement, MovementKind, StockLevel
from stockroom.inventory.store.tables import ledger_head, movements


@dataclass(frozen=True)
class Entry:
    """A ledger entry before it has its sequence number."""

    kind: MovementKind
    level: StockLevel
    on_hand_delta: int = 0
    reserved_delta: int = 0
    reason: str = ""
    reference: str = ""
    reservation_id: str = ""
    request_id: str = ""


async def append(
    connection: AsyncConnection, entries: Sequence[Entry], now: datetime
) -> list[Movement]:
    """Number ``entries`` and write them; call last in a transaction (it takes the ledger
    head lock, which every writer needs, so it is held only until the commit)."""
    last = (
        await connection.execute(
            update(ledger_head)
            .where(ledger_head.c.id == 1)
            .values(last_sequence=ledger_head.c.last_sequence + len(entries))
            .returning(ledger_head.c.last_sequence)
        )
    ).scalar_one()
    written = [
        Movement(
            sequence=last - len(entries) + i + 1,
            kind=e.kind,
            on_hand_delta=e.on_hand_delta,
            reserved_delta=e.reserved_delta,
            level=e.level,
            reason=e.reason,
            reference=e.reference,
            reservation_id=e.reservation_id,
            request_id=e.request_id,
            create_time=now,
        )
        for i, e in enumerate(entries)
    ]
    await connection.execute(insert(movements), [_row(m) for m in written])
    return written


def _row(m: Movement) -> dict[str, Any]:
    return {
        "sequence": m.sequence,
        "sku": m.level.sku,
        "location_id": m.level.location_id,
        "kind": m.kind.value,
        "on_hand_delta": m.on_hand_delta,
        "reserved_delta": m.reserved_delta,
        "on_hand": m.level.on_hand,
        "reserved": m.level.reserved,
        "safety_stock": m.level.safety_stock,
        "version": m.level.version,
        "reason": m.reason,
        "reference": m.reference,
        "reservation_id": m.reservation_id or None,
        "request_id": m.request_id or None,
        "create_time": m.create_time,
    }


def movement_from_row(row: Row[Any]) -> Movement:
    return Movement(
        sequence=row.sequence,
        kind=MovementKind(row.kind),
        on_hand_delta=row.on_hand_delta,
        reserved_delta=row.reserved_delta,
        level=StockLevel(
            row.sku, row.location_id, row.on_hand, row.reserved, row.safety_stock, row.version
        ),
        reason=row.reason,
        reference=row.reference,
        reservation_id=row.reservation_id or "",
        request_id=row.request_id or "",
        create_time=row.create_time,
    )


async def read(
    connection: AsyncConnection,
    *,
    after: int,
    limit: int,
    skus: Sequence[str] = (),
    location_id: str = "",
) -> list[Movement]:
    """Entries with a sequence above ``after``, in sequence order, optionally filtered."""
    if not skus and not location_id:
        # The ledger tail's read after every commit: built once.
        rows = await connection.execute(_ALL_AFTER, {"after": after, "limit": limit})
        return [movement_from_row(row) for row in rows]
    query = select(movements).where(movements.c.sequence > after)
    if skus:
        query = query.where(movements.c.sku.in_(sorted(set(skus))))
    if location_id:
        query = query.where(movements.c.location_id == location_id)
    rows = await connection.execute(query.order_by(movements.c.sequence).limit(limit))
    return [movement_from_row(row) for row in rows]


_ALL_AFTER = (
    select(movements)
    .where(movements.c.sequence > bindparam("after"))
    .order_by(movements.c.sequence)
    .limit(bindparam("limit"))
)


async def last_sequence(connection: AsyncConnection) -> int:
    return int((await connection.execute(select(ledger_head.c.last_sequence))).scalar_one())
