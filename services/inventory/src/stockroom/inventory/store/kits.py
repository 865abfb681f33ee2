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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    Select,
    cast,
    delete,
    insert,
    literal,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, DriverRead, one_of
from stockroom.inventory.domain.model import ItemState, KitComponent, StockKey, StockLevel
from stockroom.inventory.store.levels import LEVEL_COLUMNS, level_from_row
from stockroom.inventory.store.tables import items, kit_components, stock_levels

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


def _levels_with_kits(dialect: str) -> Any:
    """Every level of the SKUs bound as ``skus`` and of every component of kits among
    them, the kits' definitions, and which of the SKUs are deactivated: one statement.
    What the levels promise is the domain's to work out (``rules.availability``).

    The named SKUs and the components are read by two selects (an SKU in both comes
    twice): one ``sku = ANY(...) OR sku IN (subquery)`` filter would make PostgreSQL
    scan every level."""
    edges = closure(dialect)
    level, item = stock_levels.c, items.c
    number_null = cast(null(), BigInteger)

    def levels_where(where: Any) -> Select[Any]:
        return select(literal("level").label("kind"), *LEVEL_COLUMNS).where(where)

    named = levels_where(one_of(level.sku, "skus", dialect))
    components = levels_where(level.sku.in_(select(edges.c.component_sku)))
    definition = select(
        literal("edge"),
        edges.c.kit_sku,
        edges.c.component_sku,
        edges.c.quantity,
        *([number_null] * (len(LEVEL_COLUMNS) - 3)),
    )
    # The deactivation's reason rides in the location's column.
    inactive = select(
        literal("inactive"),
        item.sku,
        item.deactivation_reason,
        *([number_null] * (len(LEVEL_COLUMNS) - 2)),
    ).where(one_of(item.sku, "skus", dialect), item.state == ItemState.INACTIVE.value)
    return union_all(named, components, definition, inactive)


# Read by every CheckAvailability batch: run by the driver itself (``DriverRead``).
_LEVELS_WITH_KITS = {dialect: DriverRead(_levels_with_kits(dialect)) for dialect in DIALECTS}


@dataclass(frozen=True)
class PromiseRead:
    """What CheckAvailability decides on: the levels of the SKUs asked about and of their
    kits' components, the kits' definitions, and the deactivated SKUs among those asked."""

    levels: dict[StockKey, StockLevel]
    definitions: dict[str, tuple[KitComponent, ...]]
    inactive: frozenset[str]


async def levels_with_kits(connection: AsyncConnection, skus: Iterable[str]) -> PromiseRead:
    """Levels of ``skus`` and of every component of the kits among them, those kits'
    definitions, and which of ``skus`` are deactivated (one statement)."""
    statement = _LEVELS_WITH_KITS[connection.dialect.name]
    rows = await statement.rows(connection, {"skus": sorted(set(skus))})
    levels: dict[StockKey, StockLevel] = {}
    edges = []
    inactive: set[str] = set()
    for row in rows:
        kind, sku = row[0], row[1]
        if kind == "level":
            level = level_from_row(row[1:])
            levels[level.key] = level
        elif kind == "edge":
            edges.append((sku, row[2], row[3]))
        else:
            inactive.add(sku)
    return PromiseRead(levels, _grouped(edges), frozenset(inactive))
