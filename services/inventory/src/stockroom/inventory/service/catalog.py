"""Items and locations: registered once (idempotently), read often."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import RequestKey
from stockroom.inventory.domain import errors, items
from stockroom.inventory.domain.model import Item, ItemState, Location, LocationKind, Page
from stockroom.inventory.store import catalog
from stockroom.inventory.store.clock import Clock, utc_now
from stockroom.inventory.store.idempotent import idempotent_write
from stockroom.inventory.store.transactions import Transactions


class CatalogService:
    def __init__(self, transactions: Transactions, clock: Clock = utc_now) -> None:
        self._transactions = transactions
        self._clock = clock

    async def create_item(self, sku: str, display_name: str, key: RequestKey) -> Item:
        async def work(connection: AsyncConnection, now: datetime) -> Item:
            return await catalog.insert_item(connection, Item(sku, display_name, now))

        return await idempotent_write(self._transactions, key, Item, self._clock, work)

    async def rename_item(self, sku: str, display_name: str, key: RequestKey) -> Item:
        return await self._change_item(
            sku, lambda item, now: items.renamed(item, display_name, now), key
        )

    async def deactivate_item(self, sku: str, reason: str, key: RequestKey) -> Item:
        """New reservations of the SKU are refused from the commit on (a batch that read it
        active before may still commit one: the two were concurrent)."""
        return await self._change_item(
            sku, lambda item, now: items.deactivated(item, reason, now), key
        )

    async def reactivate_item(self, sku: str, key: RequestKey) -> Item:
        return await self._change_item(sku, items.reactivated, key)

    async def _change_item(
        self, sku: str, change: Callable[[Item, datetime], Item], key: RequestKey
    ) -> Item:
        """Apply ``change`` to the locked item, once per request key."""

        async def work(connection: AsyncConnection, now: datetime) -> Item:
            item = await catalog.lock_item(connection, sku)
            if item is None:
                raise errors.item_not_found(sku)
            changed = change(item, now)
            if changed != item:
                await catalog.update_item(connection, changed)
            return changed

        return await idempotent_write(self._transactions, key, Item, self._clock, work)

    async def create_location(
        self, location_id: str, display_name: str, kind: LocationKind, key: RequestKey
    ) -> Location:
        async def work(connection: AsyncConnection, now: datetime) -> Location:
            return await catalog.insert_location(
                connection, Location(location_id, display_name, kind, now)
            )

        return await idempotent_write(self._transactions, key, Location, self._clock, work)

    async def get_item(self, sku: str) -> Item:
        async def work(connection: AsyncConnection) -> Page[Item]:
            return await catalog.list_items(connection, None, 1, only=sku)

        found = (await self._transactions.read(work)).items
        if not found:
            raise errors.item_not_found(sku)
        return found[0]

    async def get_location(self, location_id: str) -> Location:
        async def work(connection: AsyncConnection) -> Page[Location]:
            return await catalog.list_locations(connection, None, 1, only=location_id)

        found = (await self._transactions.read(work)).items
        if not found:
            raise errors.location_not_found(location_id)
        return found[0]

    async def items(
        self,
        after: str | None,
        size: int,
        *,
        prefix: str = "",
        state: ItemState | None = None,
    ) -> Page[Item]:
        async def work(connection: AsyncConnection) -> Page[Item]:
            return await catalog.list_items(connection, after, size, prefix=prefix, state=state)

        return await self._transactions.read(work)

    async def locations(self, after: str | None, size: int) -> Page[Location]:
        async def work(connection: AsyncConnection) -> Page[Location]:
            return await catalog.list_locations(connection, after, size)

        return await self._transactions.read(work)

    async def require_items(self, skus: Iterable[str]) -> None:
        """NotFound for the first SKU (in sorted order) that is not registered."""
        wanted = sorted(set(skus))

        async def work(connection: AsyncConnection) -> set[str]:
            return (await catalog.known(connection, wanted))[0]

        found = await self._transactions.read(work)
        for sku in wanted:
            if sku not in found:
                raise errors.item_not_found(sku)
