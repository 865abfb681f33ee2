"""Statements on stock levels: read them, lock them in the global order, write a batch's
final values.

Every writing transaction locks the levels it may change with one
``SELECT ... ORDER BY sku, location_id FOR UPDATE`` before it writes any
other row, so two transactions always queue on their first common level and
never hold one each of two (no deadlock). Levels a batch creates are
inserted, in key order, before that lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnClause,
    Select,
    bindparam,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, one_of, upsert_insert
from stockroom.inventory.domain.model import StockKey, StockLevel
from stockroom.inventory.store.tables import stock_levels

LEVEL_COLUMNS = (
    stock_levels.c.sku,
    stock_levels.c.location_id,
    stock_levels.c.on_hand,
    stock_levels.c.reserved,
    stock_levels.c.safety_stock,
    stock_levels.c.version,
    stock_levels.c.damaged,
    stock_levels.c.quality_control,
    stock_levels.c.reorder_point,
    stock_levels.c.backordered,
    stock_levels.c.incoming,
)
GLOBAL_ORDER = (stock_levels.c.sku, stock_levels.c.location_id)
# On PostgreSQL the lock also returns the transaction's id: the base of its ledger positions.
_XID: ColumnClause[int] = literal_column("pg_current_xact_id()::text::bigint", BigInteger)


def _of_skus(dialect: str, *, lock: bool) -> Select[Any]:
    columns = (*LEVEL_COLUMNS, _XID) if lock and dialect == "postgresql" else LEVEL_COLUMNS
    query = (
        select(*columns).where(one_of(stock_levels.c.sku, "skus", dialect)).order_by(*GLOBAL_ORDER)
    )
    return query.with_for_update() if lock else query


_READ = {dialect: _of_skus(dialect, lock=False) for dialect in DIALECTS}
_LOCK = {dialect: _of_skus(dialect, lock=True) for dialect in DIALECTS}

_WRITE = (
    update(stock_levels)
    .where(
        stock_levels.c.sku == bindparam("key_sku"),
        stock_levels.c.location_id == bindparam("key_location_id"),
    )
    .values(
        on_hand=bindparam("new_on_hand"),
        reserved=bindparam("new_reserved"),
        safety_stock=bindparam("new_safety_stock"),
        version=bindparam("new_version"),
        damaged=bindparam("new_damaged"),
        quality_control=bindparam("new_quality_control"),
        reorder_point=bindparam("new_reorder_point"),
        backordered=bindparam("new_backordered"),
        incoming=bindparam("new_incoming"),
    )
)


def level_from_row(row: Sequence[Any]) -> StockLevel:
    """A level from a row that starts with ``LEVEL_COLUMNS``."""
    sku, location_id, on_hand, reserved, safety, version, damaged, qc, reorder = row[:9]
    backordered, incoming = row[9:11]
    return StockLevel(
        sku,
        location_id,
        on_hand,
        reserved,
        safety,
        version,
        damaged,
        qc,
        reorder,
        backordered=backordered,
        incoming=incoming,
    )


async def read_skus(connection: AsyncConnection, skus: Iterable[str]) -> dict[StockKey, StockLevel]:
    """Every level of ``skus``, unlocked (a batch's optimistic read)."""
    rows = await connection.execute(_READ[connection.dialect.name], {"skus": sorted(set(skus))})
    levels = [level_from_row(row) for row in rows]
    return {level.key: level for level in levels}


async def lock_skus(
    connection: AsyncConnection, skus: Iterable[str]
) -> tuple[dict[StockKey, StockLevel], int | None]:
    """Lock every level of ``skus`` in the global order; also the transaction id on
    PostgreSQL (None elsewhere, or when nothing was locked)."""
    rows = list(
        await connection.execute(_LOCK[connection.dialect.name], {"skus": sorted(set(skus))})
    )
    postgres = connection.dialect.name == "postgresql"
    xid = int(rows[0][len(LEVEL_COLUMNS)]) if rows and postgres else None
    levels = [level_from_row(row) for row in rows]
    return {level.key: level for level in levels}, xid


async def create_missing(connection: AsyncConnection, keys: Iterable[StockKey]) -> None:
    """Create empty levels at ``keys`` where none exist (the SKUs and locations must exist)."""
    rows = [
        {
            "sku": k.sku,
            "location_id": k.location_id,
            "on_hand": 0,
            "reserved": 0,
            "safety_stock": 0,
            "version": 0,
            "damaged": 0,
            "quality_control": 0,
            "reorder_point": 0,
            "backordered": 0,
            "incoming": 0,
        }
        for k in sorted(set(keys))
    ]
    if not rows:
        return
    await connection.execute(
        upsert_insert(connection, stock_levels)
        .values(rows)
        .on_conflict_do_nothing(index_elements=list(GLOBAL_ORDER))
    )


async def write(connection: AsyncConnection, levels: Mapping[StockKey, StockLevel]) -> None:
    """Set locked levels to their new values, in key order (one pipelined round trip)."""
    if not levels:
        return
    await connection.execute(
        _WRITE,
        [
            {
                "key_sku": key.sku,
                "key_location_id": key.location_id,
                "new_on_hand": level.on_hand,
                "new_reserved": level.reserved,
                "new_safety_stock": level.safety_stock,
                "new_version": level.version,
                "new_damaged": level.damaged,
                "new_quality_control": level.quality_control,
                "new_reorder_point": level.reorder_point,
                "new_backordered": level.backordered,
                "new_incoming": level.incoming,
            }
            for key, level in sorted(levels.items())
        ],
    )
