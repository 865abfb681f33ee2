"""Named price lists in the database: created once per request id, status changed in one
transaction under the catalog lock.

A status change reads the list and its scope's active OVERRIDE list after taking
the catalog lock (``store.changes.lock_catalog``), which every price and list
write takes first: so what the domain decides from cannot change before the
commit, and concurrent changes queue instead of retrying. A partial unique index
is the last guard against two active OVERRIDE lists in one scope. Every list
written is an event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import Clock, RequestKey, insert_once, run_autocommit, run_transaction
from stockroom.pricing.domain.price_lists import (
    ListKind,
    ListStatus,
    PriceList,
    PriceListTerms,
    Relative,
    list_not_found,
)
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.store.changes import ChangeRecorder, lock_catalog
from stockroom.pricing.tables import price_lists

# Decides a status change from the list, its scope's active OVERRIDE list and the moment:
# the list changed and the list it replaced, or None for no change
# (domain.price_lists.status_change).
Decide = Callable[
    [PriceList, PriceList | None, datetime], tuple[PriceList, PriceList | None] | None
]


class PriceListStore:
    def __init__(self, engine: AsyncEngine, changes: ChangeRecorder) -> None:
        self.engine = engine
        self._changes = changes

    async def create(
        self, terms: PriceListTerms, now: datetime, key: RequestKey | None = None
    ) -> PriceList:
        """A new DRAFT list (once per request id)."""

        async def work(connection: AsyncConnection) -> PriceList:
            values = {
                **terms_values(terms),
                "status": ListStatus.DRAFT.value,
                "created_at": now,
            }
            row, created = await insert_once(connection, price_lists, values, key)
            price_list = price_list_of(row)
            if created:
                await self._changes.price_list_changed(connection, price_list, now)
            return price_list

        return await run_transaction(self.engine, work)

    async def get(self, list_id: int) -> PriceList | None:
        async def work(connection: AsyncConnection) -> PriceList | None:
            row = (await connection.execute(_BY_ID, {"id": list_id})).one_or_none()
            return None if row is None else price_list_of(row)

        return await run_autocommit(self.engine, work)

    async def of_currency(self, currency_code: str) -> dict[str, PriceList]:
        """Every list of one currency, whatever its status: what a price is chosen from."""
        query = select(price_lists).where(price_lists.c.currency_code == currency_code)

        async def work(connection: AsyncConnection) -> dict[str, PriceList]:
            lists = [price_list_of(row) for row in await connection.execute(query)]
            return {price_list.list_id: price_list for price_list in lists}

        return await run_autocommit(self.engine, work)

    async def active_override(self, scope: PriceListScope) -> PriceList | None:
        """The scope's active OVERRIDE list, if it has one."""

        async def work(connection: AsyncConnection) -> PriceList | None:
            return await active_override(connection, scope)

        return await run_autocommit(self.engine, work)

    async def page(
        self,
        currency_code: str,
        statuses: frozenset[ListStatus],
        after_id: int,
        limit: int,
    ) -> list[PriceList]:
        """Lists in creation order after ``after_id``, at most ``limit``, filtered."""
        query = select(price_lists).where(price_lists.c.id > after_id)
        if currency_code:
            query = query.where(price_lists.c.currency_code == currency_code)
        if statuses:
            query = query.where(price_lists.c.status.in_(sorted(s.value for s in statuses)))
        query = query.order_by(price_lists.c.id).limit(limit)

        async def work(connection: AsyncConnection) -> list[PriceList]:
            return [price_list_of(row) for row in await connection.execute(query)]

        return await run_autocommit(self.engine, work)

    async def change_status(
        self, list_id: int, decide: Decide, clock: Clock
    ) -> tuple[PriceList, PriceList | None]:
        """Apply what ``decide`` makes of the list and its scope's active OVERRIDE list, in
        one transaction; the list as it is (and None) when it decides nothing. The moment
        is read under the lock, so changes are stamped in the order they commit."""

        async def work(connection: AsyncConnection) -> tuple[PriceList, PriceList | None]:
            await lock_catalog(connection)
            now = clock()
            current = await list_by_id(connection, list_id)
            if current is None:
                raise list_not_found(str(list_id))
            active = None
            if current.kind is ListKind.OVERRIDE:
                active = await active_override(connection, current.scope)
            decided = decide(current, active, now)
            if decided is None:
                return current, None
            changed, replaced = decided
            # The replaced list first: its scope's place is free before this one takes it.
            for price_list in (replaced, changed):
                if price_list is not None:
                    await connection.execute(
                        update(price_lists)
                        .where(price_lists.c.id == int(price_list.list_id))
                        .values(
                            status=price_list.status.value,
                            activated_at=price_list.activated_at,
                            archived_at=price_list.archived_at,
                        )
                    )
                    await self._changes.price_list_changed(connection, price_list, now)
            return changed, replaced

        return await run_transaction(self.engine, work)


async def active_override(connection: AsyncConnection, scope: PriceListScope) -> PriceList | None:
    """The scope's active OVERRIDE list, if it has one."""
    query = select(price_lists).where(
        price_lists.c.currency_code == scope.currency_code,
        price_lists.c.channel == scope.channel,
        price_lists.c.customer_group == scope.customer_group,
        price_lists.c.country == scope.country,
        price_lists.c.status == ListStatus.ACTIVE.value,
        price_lists.c.kind == ListKind.OVERRIDE.value,
    )
    row = (await connection.execute(query)).one_or_none()
    return None if row is None else price_list_of(row)


async def list_by_id(connection: AsyncConnection, list_id: int) -> PriceList | None:
    row = (await connection.execute(_BY_ID, {"id": list_id})).one_or_none()
    return None if row is None else price_list_of(row)


def terms_values(terms: PriceListTerms) -> dict[str, Any]:
    relative = terms.relative
    return {
        "currency_code": terms.scope.currency_code,
        "channel": terms.scope.channel,
        "customer_group": terms.scope.customer_group,
        "country": terms.scope.country,
        "name": terms.name,
        "kind": terms.kind.value,
        "base_list_id": None if relative is None else int(relative.base_list_id),
        "adjustment_bp": None if relative is None else relative.basis_points,
    }


def price_list_of(row: Row[Any]) -> PriceList:
    relative = None
    if row.base_list_id is not None:
        relative = Relative(str(row.base_list_id), int(row.adjustment_bp))
    terms = PriceListTerms(
        row.name,
        PriceListScope(row.currency_code, row.channel, row.customer_group, row.country),
        ListKind(row.kind),
        relative,
    )
    return PriceList(
        str(row.id),
        terms,
        ListStatus(row.status),
        row.created_at,
        row.activated_at,
        row.archived_at,
    )


_BY_ID = select(price_lists).where(price_lists.c.id == bindparam("id"))
