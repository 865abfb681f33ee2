"""Named price lists in the database: created once per request id, status changes guarded.

A status change is written only if the list is still in the status it was
read in (else ``StatusConflict``: read again and decide again), and two active
OVERRIDE lists of one scope are refused by a partial unique index, so a lost
race also ends as ``StatusConflict``. Every list written is an event in the
same transaction (``store.changes``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import RequestKey, insert_once, run_autocommit, run_transaction
from stockroom.pricing.domain.price_lists import (
    ListKind,
    ListStatus,
    PriceList,
    PriceListTerms,
    Relative,
)
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.store.changes import ChangeRecorder
from stockroom.pricing.tables import price_lists


class StatusConflict(Exception):
    """The list (or its scope) changed since it was read; read again and retry."""


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

    async def save_status(
        self,
        changed: PriceList,
        was: ListStatus,
        replaced: tuple[PriceList, ListStatus] | None,
        now: datetime,
    ) -> None:
        """Write ``changed`` (read in status ``was``) and the list it replaces, if any, in
        one transaction; StatusConflict when either changed meanwhile, or when another
        OVERRIDE list of the scope became active first."""

        async def work(connection: AsyncConnection) -> None:
            # The replaced list first: its scope's place is free before this one takes it.
            for price_list, previous in (*([replaced] if replaced else []), (changed, was)):
                statement = (
                    update(price_lists)
                    .where(
                        price_lists.c.id == int(price_list.list_id),
                        price_lists.c.status == previous.value,
                    )
                    .values(
                        status=price_list.status.value,
                        activated_at=price_list.activated_at,
                        archived_at=price_list.archived_at,
                    )
                    .returning(price_lists.c.id)
                )
                try:
                    found = (await connection.execute(statement)).first()
                except IntegrityError:
                    raise StatusConflict(price_list.list_id) from None
                if found is None:
                    raise StatusConflict(price_list.list_id)
                await self._changes.price_list_changed(connection, price_list, now)

        await run_transaction(self.engine, work)


async def active_override(
    connection: AsyncConnection, scope: PriceListScope, *, lock: bool = False
) -> PriceList | None:
    """The scope's active OVERRIDE list (row-locked with ``lock``), if it has one."""
    query = select(price_lists).where(
        price_lists.c.currency_code == scope.currency_code,
        price_lists.c.channel == scope.channel,
        price_lists.c.customer_group == scope.customer_group,
        price_lists.c.country == scope.country,
        price_lists.c.status == ListStatus.ACTIVE.value,
        price_lists.c.kind == ListKind.OVERRIDE.value,
    )
    if lock:
        query = query.with_for_update()
    row = (await connection.execute(query)).one_or_none()
    return None if row is None else price_list_of(row)


async def list_by_id(
    connection: AsyncConnection, list_id: int, *, lock: bool = False
) -> PriceList | None:
    query = _BY_ID.with_for_update() if lock else _BY_ID
    row = (await connection.execute(query, {"id": list_id})).one_or_none()
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
