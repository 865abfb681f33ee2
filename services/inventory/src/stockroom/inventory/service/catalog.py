"""Items and locations: registered once (idempotently), read often; kits' components."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import RequestKey
from stockroom.inventory.domain import errors
from stockroom.inventory.domain import items as item_rules
from stockroom.inventory.domain import kits as kit_rules
from stockroom.inventory.domain.model import (
    Item,
    ItemState,
    KitComponent,
    Location,
    LocationKind,
    Page,
)
from stockroom.inventory.store import catalog, kits
from stockroom.inventory.store.clock import Clock, utc_now
from stockroom.inventory.store.idempotent import idempotent_write
from stockroom.inventory.store.transactions import Transactions


class CatalogService:
    def __init__(self, transactions: Transactions, clock: Clock = utc_now) -> None:
        self._transactions = transactions
        self._clock = clock

    async def create_item(
        self,
        sku: str,
        display_name: str,
        key: RequestKey,
        components: Sequence[KitComponent] = (),
    ) -> Item:
        """Register a SKU; with ``components``, a kit (checked as SetKitComponents checks
        them; a new kit cannot be inside another kit yet, so it cannot close a cycle)."""

        async def work(connection: AsyncConnection, now: datetime) -> Item:
            if components:
                await _check_kit(connection, sku, components, "item.components")
            return await catalog.insert_item(
                connection,
                Item(
                    sku,
                    display_name,
                    now,
                    components=tuple(sorted(components, key=lambda c: c.sku)),
                ),
            )

        return await idempotent_write(self._transactions, key, Item, self._clock, work)

    async def set_kit_components(
        self, sku: str, components: Sequence[KitComponent], key: RequestKey
    ) -> Item:
        """Replace a kit's components. Changes to kit definitions take one lock, so two
        concurrent changes cannot each pass the cycle check and together close a cycle.
        Reservations keep the components they hold; the next ones use the new list."""

        async def work(connection: AsyncConnection, now: datetime) -> Item:
            await kits.lock(connection)
            found = (await catalog.list_items(connection, None, 1, only=sku)).items
            if not found:
                raise errors.item_not_found(sku)
            if not found[0].is_kit:
                raise errors.not_a_kit(sku)
            await _check_kit(connection, sku, components, "components")
            await kits.write(connection, sku, components)
            return dataclasses.replace(
                found[0], components=tuple(sorted(components, key=lambda c: c.sku))
            )

        return await idempotent_write(self._transactions, key, Item, self._clock, work)

    async def rename_item(self, sku: str, display_name: str, key: RequestKey) -> Item:
        return await self._change_item(
            sku, lambda item, now: item_rules.renamed(item, display_name, now), key
        )

    async def deactivate_item(self, sku: str, reason: str, key: RequestKey) -> Item:
        """New reservations of the SKU are refused from the commit on (a batch that read it
        active before may still commit one: the two were concurrent)."""
        return await self._change_item(
            sku, lambda item, now: item_rules.deactivated(item, reason, now), key
        )

    async def reactivate_item(self, sku: str, key: RequestKey) -> Item:
        return await self._change_item(sku, item_rules.reactivated, key)

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


async def _check_kit(
    connection: AsyncConnection, sku: str, components: Sequence[KitComponent], field: str
) -> None:
    """The domain's definition rules, on the stored items and kits the components reach."""
    named = [c.sku for c in components]
    items, _ = await catalog.known(connection, named)
    definitions = await kits.definitions(connection, named)
    kit_rules.check_definition(sku, components, field, items, definitions)
