"""The append-only ledger: write a batch's entries, read entries after a position.

Positions (``sequence``) grow in the order readers may see entries, without
any counter every writer takes in turn:

- PostgreSQL: ``(xid << 20) + n``, where ``xid`` is the id of the writing
  transaction (``pg_current_xact_id()``) and ``n`` the entry's index in it.
  Ids are handed out when transactions start, so a transaction with a
  smaller id may commit later than one with a larger id. Readers therefore
  read only below the *horizon*: the oldest transaction still running
  (``pg_snapshot_xmin`` of the reading statement's snapshot), shifted the
  same way (transactions of other databases in the cluster left out). Every
  transaction below it has finished, so every entry below it
  is final, and any entry committed afterwards has a larger position than
  all of them: a reader that has read up to position P never sees an entry
  below P appear later. ListMovements and WatchStock resume from P with
  nothing missed and nothing twice.
- SQLite: writers hold the database's write lock in turn (BEGIN IMMEDIATE),
  so a batch's base is the last position + 1: dense and in commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnClause,
    Row,
    bindparam,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.inventory.domain.model import Movement, MovementKind, StockLevel
from stockroom.inventory.store.tables import movements

# Bits of a PostgreSQL position that number the entries of one transaction.
ENTRY_BITS = 20
MAX_ENTRIES_PER_TRANSACTION = 1 << ENTRY_BITS
# Positions below this are final (PostgreSQL; see the module docstring): the
# oldest transaction in progress when the reading statement's snapshot was
# taken, leaving out those known to run in another database of the cluster
# (pg_stat_activity names each backend's database and transaction id; one
# that has ended since, or whose database is hidden from this role, counts as
# this database's, which only delays entries, never skips them).
HORIZON: ColumnClause[int] = literal_column(
    "((SELECT coalesce(min(x::text::bigint),"
    " pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
    " FROM pg_snapshot_xip(pg_current_snapshot()) AS x"
    " WHERE NOT EXISTS (SELECT FROM pg_stat_activity AS a"
    " WHERE a.backend_xid = x::xid AND a.datname <> current_database()))"
    f" << {ENTRY_BITS})",
    BigInteger,
)


async def first_position(connection: AsyncConnection, xid: int | None) -> int:
    """The position of the writing transaction's first entry. On PostgreSQL from its id
    (``xid``, if the caller has it already); on SQLite the last position + 1."""
    if connection.dialect.name != "postgresql":
        return await next_dense_position(connection)
    if xid is None:
        xid = int((await connection.execute(select(_CURRENT_XID))).scalar_one())
    return xid << ENTRY_BITS


_CURRENT_XID: ColumnClause[int] = literal_column("pg_current_xact_id()::text::bigint", BigInteger)


async def next_dense_position(connection: AsyncConnection) -> int:
    """SQLite: the last position + 1, read inside the writing transaction."""
    last = (
        await connection.execute(select(func.coalesce(func.max(movements.c.sequence), 0)))
    ).scalar_one()
    return int(last) + 1


async def append(connection: AsyncConnection, entries: Sequence[Movement]) -> None:
    """Write ``entries`` (already positioned) in one statement."""
    if not entries:
        return
    if len(entries) > MAX_ENTRIES_PER_TRANSACTION:
        raise ValueError(f"{len(entries)} ledger entries do not fit one transaction's positions")
    await connection.execute(insert(movements), [_row(m) for m in entries])


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
        "damaged_delta": m.damaged_delta,
        "quality_control_delta": m.quality_control_delta,
        "damaged": m.level.damaged,
        "quality_control": m.level.quality_control,
        "reorder_point": m.level.reorder_point,
        "backordered_delta": m.backordered_delta,
        "incoming_delta": m.incoming_delta,
        "backordered": m.level.backordered,
        "incoming": m.level.incoming,
        "expected_receipt_id": m.expected_receipt_id or None,
    }


def movement_from_row(row: Row[Any]) -> Movement:
    return Movement(
        sequence=row.sequence,
        kind=MovementKind(row.kind),
        on_hand_delta=row.on_hand_delta,
        reserved_delta=row.reserved_delta,
        level=StockLevel(
            row.sku,
            row.location_id,
            row.on_hand,
            row.reserved,
            row.safety_stock,
            row.version,
            row.damaged,
            row.quality_control,
            row.reorder_point,
            backordered=row.backordered,
            incoming=row.incoming,
        ),
        reason=row.reason,
        reference=row.reference,
        reservation_id=row.reservation_id or "",
        request_id=row.request_id or "",
        create_time=row.create_time,
        damaged_delta=row.damaged_delta,
        quality_control_delta=row.quality_control_delta,
        backordered_delta=row.backordered_delta,
        incoming_delta=row.incoming_delta,
        expected_receipt_id=row.expected_receipt_id or "",
    )


async def read(
    connection: AsyncConnection,
    *,
    after: int,
    limit: int,
    skus: Sequence[str] = (),
    location_id: str = "",
) -> list[Movement]:
    """Final entries with a position above ``after``, in position order, optionally filtered."""
    postgres = connection.dialect.name == "postgresql"
    if not skus and not location_id:
        # The ledger tail's read: built once.
        statement = _ALL_AFTER_FINAL if postgres else _ALL_AFTER
        rows = await connection.execute(statement, {"after": after, "limit": limit})
        return [movement_from_row(row) for row in rows]
    query = select(movements).where(movements.c.sequence > after)
    if postgres:
        query = query.where(movements.c.sequence < HORIZON)
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
_ALL_AFTER_FINAL = _ALL_AFTER.where(movements.c.sequence < HORIZON)


async def final_position(connection: AsyncConnection) -> int:
    """A position at or above every final entry, below every entry still to come."""
    if connection.dialect.name == "postgresql":
        return int((await connection.execute(select(HORIZON - 1))).scalar_one())
    return await next_dense_position(connection) - 1
