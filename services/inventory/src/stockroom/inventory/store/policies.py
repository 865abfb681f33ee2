"""Statements on inventory policies: lock a batch's, write what it decided, list them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Any

from sqlalchemy import Select, bindparam, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, one_of
from stockroom.inventory.domain.model import Page, StockKey
from stockroom.inventory.domain.supply import InventoryPolicy, PolicyMode
from stockroom.inventory.store.tables import inventory_policies

_p = inventory_policies.c


def _of_skus(dialect: str, *, lock: bool) -> Select[Any]:
    query = select(inventory_policies).where(one_of(_p.sku, "skus", dialect))
    query = query.order_by(_p.sku, _p.location_id)
    return query.with_for_update() if lock else query


_READ = {dialect: _of_skus(dialect, lock=False) for dialect in DIALECTS}
_LOCK = {dialect: _of_skus(dialect, lock=True) for dialect in DIALECTS}

_WRITE = (
    update(inventory_policies)
    .where(_p.sku == bindparam("key_sku"), _p.location_id == bindparam("key_location_id"))
    .values(
        mode=bindparam("new_mode"),
        backorder_limit=bindparam("new_limit"),
        preorder_until=bindparam("new_until"),
        backordered=bindparam("new_backordered"),
        version=bindparam("new_version"),
        update_time=bindparam("new_time"),
    )
)


def policy_from_row(row: Any) -> InventoryPolicy:
    return InventoryPolicy(
        sku=row.sku,
        location_id=row.location_id,
        mode=PolicyMode(row.mode),
        backorder_limit=row.backorder_limit,
        preorder_until=row.preorder_until,
        backordered=row.backordered,
        version=row.version,
        update_time=row.update_time,
    )


async def of_skus(
    connection: AsyncConnection, skus: Iterable[str], *, lock: bool = False
) -> dict[StockKey, InventoryPolicy]:
    """Every policy of ``skus``; with ``lock`` locked in (sku, location) order (after the
    levels of the same SKUs, before reservations: the global lock order)."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    statement = (_LOCK if lock else _READ)[connection.dialect.name]
    rows = await connection.execute(statement, {"skus": wanted})
    return {StockKey(r.sku, r.location_id): policy_from_row(r) for r in rows}


async def write(
    connection: AsyncConnection,
    policies: Mapping[StockKey, InventoryPolicy],
    created: Set[StockKey],
) -> None:
    """Insert the new policies (a concurrent insert of the same one fails on its key and
    the batch runs again) and update the locked ones, in key order."""
    new = [_row(p) for key, p in sorted(policies.items()) if key in created]
    if new:
        await connection.execute(insert(inventory_policies), new)
    changed = [
        {
            "key_sku": p.sku,
            "key_location_id": p.location_id,
            "new_mode": p.mode.value,
            "new_limit": p.backorder_limit,
            "new_until": p.preorder_until,
            "new_backordered": p.backordered,
            "new_version": p.version,
            "new_time": p.update_time,
        }
        for key, p in sorted(policies.items())
        if key not in created
    ]
    if changed:
        await connection.execute(_WRITE, changed)


def _row(p: InventoryPolicy) -> dict[str, Any]:
    return {
        "sku": p.sku,
        "location_id": p.location_id,
        "mode": p.mode.value,
        "backorder_limit": p.backorder_limit,
        "preorder_until": p.preorder_until,
        "backordered": p.backordered,
        "version": p.version,
        "update_time": p.update_time,
    }


async def page(
    connection: AsyncConnection, sku: str, after: tuple[str, str] | None, size: int
) -> Page[InventoryPolicy]:
    """Policies in (sku, location) order, optionally of one SKU, after a cursor."""
    query = select(inventory_policies).order_by(_p.sku, _p.location_id).limit(size + 1)
    if sku:
        query = query.where(_p.sku == sku)
    if after is not None:
        query = query.where(tuple_(_p.sku, _p.location_id) > tuple_(*after))
    rows = list(await connection.execute(query))
    found = tuple(policy_from_row(r) for r in rows[:size])
    cursor = (found[-1].sku, found[-1].location_id) if len(rows) > size else None
    return Page(found, cursor)
