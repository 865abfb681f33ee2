"""The catalog: items (SKUs) and locations, and the checks that a request names known ones."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import RequestKey, upsert_insert
from stockroom.inventory.domain import errors
from stockroom.inventory.domain.model import Item, Location, LocationKind, Page
from stockroom.inventory.store.clock import Clock, utc_now
from stockroom.inventory.store.idempotent import idempotent_write
from stockroom.inventory.store.tables import items, locations
from stockroom.inventory.store.transactions import Transactions


async def insert_item(connection: AsyncConnection, item: Item) -> Item:
    created = await connection.execute(
        upsert_insert(connection, items)
        .values(sku=item.sku, display_name=item.display_name, create_time=item.create_time)
        .on_conflict_do_nothing(index_elements=[items.c.sku])
        .returning(items.c.sku)
    )
    if created.first() is None:
        raise errors.item_exists(item.sku)
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


async def require_known(
    connection: AsyncConnection, skus: Iterable[str] = (), location_ids: Iterable[str] = ()
) -> None:
    """Raise NotFound for the first unknown SKU (then location), in sorted order."""
    wanted_skus, wanted_locations = sorted(set(skus)), sorted(set(location_ids))
    parts = []
    if wanted_skus:
        parts.append(
            select(literal("item").label("kind"), items.c.sku.label("id")).where(
                items.c.sku.in_(wanted_skus)
            )
        )
    if wanted_locations:
        parts.append(
            select(literal("location").label("kind"), locations.c.location_id.label("id")).where(
                locations.c.location_id.in_(wanted_locations)
            )
        )
    if not parts:
        return
    found = {(kind, id_) for kind, id_ in await connection.execute(union_all(*parts))}
    for sku in wanted_skus:
        if ("item", sku) not in found:
            raise errors.item_not_found(sku)
    for location_id in wanted_locations:
        if ("location", location_id) not in found:
            raise errors.location_not_found(location_id)


class CatalogStore:
    """Items and locations: registered once, read often."""

    def __init__(self, transactions: Transactions, clock: Clock = utc_now) -> None:
        self._transactions = transactions
        self._clock = clock

    async def create_item(self, sku: str, display_name: str, key: RequestKey) -> Item:
        async def work(connection: AsyncConnection, now: datetime) -> Item:
            return await insert_item(connection, Item(sku, display_name, now))

        return await idempotent_write(self._transactions, key, Item, self._clock, work)

    async def create_location(
        self, location_id: str, display_name: str, kind: LocationKind, key: RequestKey
    ) -> Location:
        async def work(connection: AsyncConnection, now: datetime) -> Location:
            return await insert_location(connection, Location(location_id, display_name, kind, now))

        return await idempotent_write(self._transactions, key, Location, self._clock, work)

    async def get_item(self, sku: str) -> Item:
        async def work(connection: AsyncConnection) -> Page[Item]:
            return await list_items(connection, None, 1, only=sku)

        found = (await self._transactions.read(work)).items
        if not found:
            raise errors.item_not_found(sku)
        return found[0]

    async def get_location(self, location_id: str) -> Location:
        async def work(connection: AsyncConnection) -> Page[Location]:
            return await list_locations(connection, None, 1, only=location_id)

        found = (await self._transactions.read(work)).items
        if not found:
            raise errors.location_not_found(location_id)
        return found[0]

    async def items(self, after: str | None, size: int) -> Page[Item]:
        async def work(connection: AsyncConnection) -> Page[Item]:
            return await list_items(connection, after, size)

        return await self._transactions.read(work)

    async def locations(self, after: str | None, size: int) -> Page[Location]:
        async def work(connection: AsyncConnection) -> Page[Location]:
            return await list_locations(connection, after, size)

        return await self._transactions.read(work)

    async def require_items(self, skus: Iterable[str]) -> None:
        """NotFound for the first SKU that is not registered."""

        async def work(connection: AsyncConnection) -> None:
            await require_known(connection, skus)

        await self._transactions.read(work)
