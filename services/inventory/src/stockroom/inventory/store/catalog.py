"""Statements on the catalog: items (SKUs) and locations."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sqlalchemy import exists, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import upsert_insert
from stockroom.inventory.domain import errors
from stockroom.inventory.domain.model import Item, Location, LocationKind, Page
from stockroom.inventory.store import kits
from stockroom.inventory.store.tables import items, kit_components, locations


async def insert_item(connection: AsyncConnection, item: Item) -> Item:
    """Register ``item`` (and, for a kit, its components, in the same transaction)."""
    created = await connection.execute(
        upsert_insert(connection, items)
        .values(sku=item.sku, display_name=item.display_name, create_time=item.create_time)
        .on_conflict_do_nothing(index_elements=[items.c.sku])
        .returning(items.c.sku)
    )
    if created.first() is None:
        raise errors.item_exists(item.sku)
    if item.components:
        await kits.write(connection, item.sku, item.components)
    return item


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
    connection: AsyncConnection, after: str | None, size: int, *, only: str = ""
) -> Page[Item]:
    query = select(items).order_by(items.c.sku).limit(size + 1)
    if only:
        query = query.where(items.c.sku == only)
    if after is not None:
        query = query.where(items.c.sku > after)
    rows = list(await connection.execute(query))
    page = tuple(Item(r.sku, r.display_name, r.create_time) for r in rows[:size])
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
