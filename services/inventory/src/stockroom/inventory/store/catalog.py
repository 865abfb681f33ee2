"""Statements on the catalog: items (SKUs) and locations."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from sqlalchemy import exists, func, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import upsert_insert
from stockroom.inventory.domain import errors
from stockroom.inventory.domain.model import Item, ItemState, Location, LocationKind, Page
from stockroom.inventory.store import kits
from stockroom.inventory.store.tables import items, kit_components, locations


async def insert_item(connection: AsyncConnection, item: Item) -> Item:
    """Register ``item`` (and, for a kit, its components, in the same transaction)."""
    created = await connection.execute(
        upsert_insert(connection, items)
        .values(
            sku=item.sku,
            display_name=item.display_name,
            create_time=item.create_time,
            state=item.state.value,
            deactivation_reason=item.deactivation_reason,
            update_time=item.update_time,
        )
        .on_conflict_do_nothing(index_elements=[items.c.sku])
        .returning(items.c.sku)
    )
    if created.first() is None:
        raise errors.item_exists(item.sku)
    if item.components:
        await kits.write(connection, item.sku, item.components)
    return item


async def lock_item(connection: AsyncConnection, sku: str) -> Item | None:
    """The item (with a kit's components), its row locked until the transaction ends (None
    if not registered)."""
    row = (
        await connection.execute(select(items).where(items.c.sku == sku).with_for_update())
    ).first()
    if row is None:
        return None
    components = await kits.components_of(connection, [sku])
    return dataclasses.replace(_item(row), components=components.get(sku, ()))


async def update_item(connection: AsyncConnection, item: Item) -> None:
    """Write a locked item's name and state."""
    await connection.execute(
        update(items)
        .where(items.c.sku == item.sku)
        .values(
            display_name=item.display_name,
            state=item.state.value,
            deactivation_reason=item.deactivation_reason,
            update_time=item.update_time,
        )
    )


def _item(row: Any) -> Item:
    return Item(
        row.sku,
        row.display_name,
        row.create_time,
        ItemState(row.state),
        row.deactivation_reason,
        row.update_time,
    )


async def insert_location(connection: AsyncConnection, location: Location) -> Location:
    created = await connection.execute(
        upsert_insert(connection, locations)
        .values(
            location_id=location.location_id,
            display_name=location.display_name,
            kind=location.kind.value,
            create_time=location.create_time,
        )
        .on_conflict_do_nothing(index_elements=[locations.c.location_id])
        .returning(locations.c.location_id)
    )
    if created.first() is None:
        raise errors.location_exists(location.location_id)
    return location


async def list_items(
    connection: AsyncConnection,
    after: str | None,
    size: int,
    *,
    only: str = "",
    prefix: str = "",
    state: ItemState | None = None,
) -> Page[Item]:
    """Items in SKU order after ``after``: one SKU (``only``), or those starting with
    ``prefix`` (case-sensitive on both databases) in ``state``."""
    query = select(items).order_by(items.c.sku).limit(size + 1)
    if only:
        query = query.where(items.c.sku == only)
    if prefix:
        # SQLite's LIKE ignores case: the exact comparison of the first characters decides.
        query = query.where(
            items.c.sku.startswith(prefix, autoescape=True),
            func.substr(items.c.sku, 1, len(prefix)) == prefix,
        )
    if state is not None:
        query = query.where(items.c.state == state.value)
    if after is not None:
        query = query.where(items.c.sku > after)
    rows = list(await connection.execute(query))
    page = tuple(_item(r) for r in rows[:size])
    components = await kits.components_of(connection, [i.sku for i in page])
    page = tuple(dataclasses.replace(i, components=components.get(i.sku, ())) for i in page)
    return Page(page, (page[-1].sku,) if len(rows) > size else None)


async def list_locations(
    connection: AsyncConnection, after: str | None, size: int, *, only: str = ""
) -> Page[Location]:
    query = select(locations).order_by(locations.c.location_id).limit(size + 1)
    if only:
        query = query.where(locations.c.location_id == only)
    if after is not None:
        query = query.where(locations.c.location_id > after)
    rows = list(await connection.execute(query))
    page = tuple(
        Location(r.location_id, r.display_name, LocationKind(r.kind), r.create_time)
        for r in rows[:size]
    )
    return Page(page, (page[-1].location_id,) if len(rows) > size else None)


async def known(
    connection: AsyncConnection, skus: Iterable[str] = (), location_ids: Iterable[str] = ()
) -> tuple[set[str], set[str]]:
    """Which of ``skus`` and ``location_ids`` are registered (one statement)."""
    found_items, found_locations, _ = await known_with_kits(connection, skus, location_ids)
    return found_items, found_locations


async def known_with_kits(
    connection: AsyncConnection, skus: Iterable[str] = (), location_ids: Iterable[str] = ()
) -> tuple[set[str], set[str], set[str]]:
    """Which of ``skus`` and ``location_ids`` are registered, and which of the SKUs are
    kits (one statement; whether an item is a kit never changes)."""
    wanted_skus, wanted_locations = sorted(set(skus)), sorted(set(location_ids))
    parts = []
    if wanted_skus:
        is_kit = exists().where(kit_components.c.kit_sku == items.c.sku)
        parts.append(
            select(literal("item").label("kind"), items.c.sku.label("id")).where(
                items.c.sku.in_(wanted_skus), ~is_kit
            )
        )
        parts.append(
            select(literal("kit").label("kind"), items.c.sku.label("id")).where(
                items.c.sku.in_(wanted_skus), is_kit
            )
        )
    if wanted_locations:
        parts.append(
            select(literal("location").label("kind"), locations.c.location_id.label("id")).where(
                locations.c.location_id.in_(wanted_locations)
            )
        )
    if not parts:
        return set(), set(), set()
    found = [(kind, id_) for kind, id_ in await connection.execute(union_all(*parts))]
    found_kits = {id_ for kind, id_ in found if kind == "kit"}
    return (
        {id_ for kind, id_ in found if kind == "item"} | found_kits,
        {id_ for kind, id_ in found if kind == "location"},
        found_kits,
    )
