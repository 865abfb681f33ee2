"""Statements on kit definitions: what kits are made of, read whole (every kit reachable
from some SKUs, in one recursive statement), replaced under one lock.

Definitions are read where they are used, never cached: SetKitComponents may
change them on any replica. Changes to definitions take one table lock
(PostgreSQL; SQLite writers are serial anyway) so that two concurrent changes
cannot each pass the cycle check and together make a cycle.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import CTE, Select, delete, func, insert, literal, null, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, one_of
from stockroom.inventory.domain.model import KitComponent
from stockroom.inventory.store.levels import AVAILABLE_UNITS
from stockroom.inventory.store.tables import kit_components, stock_levels

_k = kit_components.c


def closure(dialect: str, name: str = "skus") -> CTE:
    """Every (kit, component, quantity) edge reachable from the SKUs bound as ``name``."""
    start = select(_k.kit_sku, _k.component_sku, _k.quantity).where(
        one_of(_k.kit_sku, name, dialect)
    )
    edges = start.cte("kit_closure", recursive=True)
    step = select(_k.kit_sku, _k.component_sku, _k.quantity).join(
        edges, _k.kit_sku == edges.c.component_sku
    )
    return edges.union(step)


def _definitions(dialect: str) -> Select[Any]:
    edges = closure(dialect)
    return select(edges.c.kit_sku, edges.c.component_sku, edges.c.quantity)


_DEFINITIONS = {dialect: _definitions(dialect) for dialect in DIALECTS}


def _grouped(rows: Iterable[Any]) -> dict[str, tuple[KitComponent, ...]]:
    found: dict[str, list[KitComponent]] = defaultdict(list)
    for kit_sku, component_sku, quantity in rows:
        found[kit_sku].append(KitComponent(component_sku, int(quantity)))
    return {sku: tuple(sorted(c, key=lambda x: x.sku)) for sku, c in sorted(found.items())}


async def definitions(
    connection: AsyncConnection, skus: Iterable[str]
) -> dict[str, tuple[KitComponent, ...]]:
    """The direct components of every kit among ``skus`` and of every kit inside them
    (recursively); SKUs that are not kits are absent."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = await connection.execute(_DEFINITIONS[connection.dialect.name], {"skus": wanted})
    return _grouped(rows)


def _direct(dialect: str) -> Select[Any]:
    return (
        select(_k.kit_sku, _k.component_sku, _k.quantity)
        .where(one_of(_k.kit_sku, "skus", dialect))
        .order_by(_k.kit_sku, _k.component_sku)
    )


_DIRECT = {dialect: _direct(dialect) for dialect in DIALECTS}


async def components_of(
    connection: AsyncConnection, skus: Iterable[str]
) -> dict[str, tuple[KitComponent, ...]]:
    """The direct components of the kits among ``skus`` (items shown as they are stored)."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    return _grouped(await connection.execute(_DIRECT[connection.dialect.name], {"skus": wanted}))


async def lock(connection: AsyncConnection) -> None:
    """Serialise changes to definitions (readers are not blocked)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(text("LOCK TABLE kit_components IN SHARE ROW EXCLUSIVE MODE"))


async def write(
    connection: AsyncConnection, kit_sku: str, components: Sequence[KitComponent]
) -> None:
    """Make ``components`` the kit's whole definition."""
    await connection.execute(delete(kit_components).where(_k.kit_sku == kit_sku))
    await connection.execute(
        insert(kit_components),
        [
            {"kit_sku": kit_sku, "component_sku": c.sku, "quantity": c.quantity}
            for c in sorted(components, key=lambda c: c.sku)
        ],
    )


def _available_with_kits(dialect: str) -> Any:
    """Available units per SKU (positive sums only) of the SKUs bound as ``skus`` and of
    every component of kits among them, and the kits' definitions: one statement.

    The named SKUs and the components are read by two selects (an SKU in both comes
    twice, with the same sum): one ``sku = ANY(...) OR sku IN (subquery)`` filter would
    make PostgreSQL scan every level."""
    edges = closure(dialect)
    level = stock_levels.c

    def available(where: Any) -> Select[Any]:
        return (
            select(
                literal("available").label("kind"),
                level.sku.label("sku"),
                null().label("component_sku"),
                func.sum(AVAILABLE_UNITS).label("quantity"),
            )
            .where(where, AVAILABLE_UNITS > 0)
            .group_by(level.sku)
        )

    named = available(one_of(level.sku, "skus", dialect))
    components = available(level.sku.in_(select(edges.c.component_sku)))
    definition = select(literal("edge"), edges.c.kit_sku, edges.c.component_sku, edges.c.quantity)
    return union_all(named, components, definition)


_AVAILABLE_WITH_KITS = {dialect: _available_with_kits(dialect) for dialect in DIALECTS}


async def available_with_kits(
    connection: AsyncConnection, skus: Iterable[str]
) -> tuple[dict[str, int], dict[str, tuple[KitComponent, ...]]]:
    """Units that can be promised per stocked SKU (SKUs with none are absent), for ``skus``
    and every component of the kits among them, and those kits' definitions."""
    statement = _AVAILABLE_WITH_KITS[connection.dialect.name]
    rows = await connection.execute(statement, {"skus": sorted(set(skus))})
    available: dict[str, int] = {}
    edges = []
    for kind, sku, component_sku, quantity in rows:
        if kind == "available":
            available[sku] = int(quantity)
        else:
            edges.append((sku, component_sku, quantity))
    return available, _grouped(edges)
