"""Statements on stock levels: lock them in the global order, change them conditionally.

Every writing transaction locks the levels it will touch with one
``SELECT ... ORDER BY sku, location_id FOR UPDATE`` before it changes any,
so two transactions always queue on their first common level and never hold
one each of two (no deadlock). The UPDATE that follows repeats the limits as
conditions: if a level does not meet them, nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, String, literal, or_, select, tuple_, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import upsert_insert
from stockroom.inventory.domain.model import StockKey, StockLevel
from stockroom.inventory.store.tables import stock_levels
from stockroom.inventory.store.transactions import ConcurrentChange

LEVEL_COLUMNS = (
    stock_levels.c.sku,
    stock_levels.c.location_id,
    stock_levels.c.on_hand,
    stock_levels.c.reserved,
    stock_levels.c.safety_stock,
    stock_levels.c.version,
)
GLOBAL_ORDER = (stock_levels.c.sku, stock_levels.c.location_id)


@dataclass(frozen=True)
class Delta:
    """A change to one level's on_hand and reserved."""

    key: StockKey
    on_hand: int
    reserved: int
    # How many ledger entries this delta stands for; the level's version moves by as many.
    changes: int = 1


def shifted(level: StockLevel, on_hand: int, reserved: int) -> StockLevel:
    """``level`` after one more change (what the next ledger entry records)."""
    return StockLevel(
        level.sku,
        level.location_id,
        level.on_hand + on_hand,
        level.reserved + reserved,
        level.safety_stock,
        level.version + 1,
    )


def level_from_row(row: Sequence[Any]) -> StockLevel:
    sku, location_id, on_hand, reserved, safety_stock, version = row
    return StockLevel(sku, location_id, on_hand, reserved, safety_stock, version)


async def lock(connection: AsyncConnection, keys: Iterable[StockKey]) -> dict[StockKey, StockLevel]:
    """Lock the existing levels among ``keys``, in the global order."""
    wanted = sorted(set(keys))
    rows = await connection.execute(
        select(*LEVEL_COLUMNS)
        .where(tuple_(*GLOBAL_ORDER).in_([(k.sku, k.location_id) for k in wanted]))
        .order_by(*GLOBAL_ORDER)
        .with_for_update()
    )
    levels = [level_from_row(row) for row in rows]
    return {level.key: level for level in levels}


async def lock_skus(
    connection: AsyncConnection, skus: Iterable[str], location_ids: Sequence[str] = ()
) -> list[StockLevel]:
    """Lock every level of ``skus`` (at ``location_ids`` only, if given), in the global order."""
    query = select(*LEVEL_COLUMNS).where(stock_levels.c.sku.in_(sorted(set(skus))))
    if location_ids:
        query = query.where(stock_levels.c.location_id.in_(sorted(set(location_ids))))
    rows = await connection.execute(query.order_by(*GLOBAL_ORDER).with_for_update())
    return [level_from_row(row) for row in rows]


async def create_missing(connection: AsyncConnection, keys: Iterable[StockKey]) -> None:
    """Create empty levels for keys that have none (the SKUs and locations must exist)."""
    rows = [
        {
            "sku": k.sku,
            "location_id": k.location_id,
            "on_hand": 0,
            "reserved": 0,
            "safety_stock": 0,
            "version": 0,
        }
        for k in sorted(set(keys))
    ]
    await connection.execute(
        upsert_insert(connection, stock_levels)
        .values(rows)
        .on_conflict_do_nothing(index_elements=list(GLOBAL_ORDER))
    )


async def apply(connection: AsyncConnection, deltas: Sequence[Delta]) -> dict[StockKey, StockLevel]:
    """Apply ``deltas`` in one statement, each only if it keeps the level's invariants.

    The conditions are the invariants themselves: on hand never negative,
    reserved within on hand, and a reservation only out of available units
    (on_hand - reserved - safety_stock). The caller has locked the levels and
    planned deltas that meet them, so a level that does not match means the
    plan was made on stale data: raise ConcurrentChange and the whole
    transaction runs again.
    """
    changes = union_all(
        *(
            select(
                literal(d.key.sku, String).label("sku"),
                literal(d.key.location_id, String).label("location_id"),
                literal(d.on_hand, BigInteger).label("on_hand_delta"),
                literal(d.reserved, BigInteger).label("reserved_delta"),
                literal(d.changes, BigInteger).label("changes"),
            )
            for d in deltas
        )
    ).cte("changes")
    level = stock_levels.c
    new_on_hand = level.on_hand + changes.c.on_hand_delta
    new_reserved = level.reserved + changes.c.reserved_delta
    statement = (
        update(stock_levels)
        .where(
            level.sku == changes.c.sku,
            level.location_id == changes.c.location_id,
            new_on_hand >= 0,
            new_reserved >= 0,
            new_reserved <= new_on_hand,
            or_(
                changes.c.reserved_delta <= 0,
                level.on_hand - level.reserved - level.safety_stock >= changes.c.reserved_delta,
            ),
        )
        .values(
            on_hand=new_on_hand, reserved=new_reserved, version=level.version + changes.c.changes
        )
        .returning(*LEVEL_COLUMNS)
    )
    updated = [level_from_row(row) for row in await connection.execute(statement)]
    if len(updated) != len(deltas):
        raise ConcurrentChange(
            f"{len(deltas) - len(updated)} of {len(deltas)} levels did not match"
        )
    return {level.key: level for level in updated}


async def set_safety_stock(
    connection: AsyncConnection, key: StockKey, safety_stock: int
) -> StockLevel:
    row = (
        await connection.execute(
            update(stock_levels)
            .where(stock_levels.c.sku == key.sku, stock_levels.c.location_id == key.location_id)
            .values(safety_stock=safety_stock, version=stock_levels.c.version + 1)
            .returning(*LEVEL_COLUMNS)
        )
    ).one()
    return level_from_row(row)


async def read_skus(connection: AsyncConnection, skus: Iterable[str]) -> list[StockLevel]:
    rows = await connection.execute(
        select(*LEVEL_COLUMNS)
        .where(stock_levels.c.sku.in_(sorted(set(skus))))
        .order_by(*GLOBAL_ORDER)
    )
    return [level_from_row(row) for row in rows]
