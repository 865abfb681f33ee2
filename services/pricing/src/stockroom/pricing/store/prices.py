"""Price versions in the database, each in a named price list (``store.price_lists``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import (
    DIALECTS,
    RequestKey,
    find_created,
    insert_once,
    one_of,
    run_autocommit,
    run_transaction,
)
from stockroom.pricing.domain.price_lists import (
    PriceList,
    check_target,
    implicit_list,
    list_not_found,
)
from stockroom.pricing.domain.prices import NewPrice, PriceListScope, PriceVersion
from stockroom.pricing.domain.tiers import PriceSchedule, Tier, TiersMode
from stockroom.pricing.store.changes import ChangeRecorder, lock_catalog
from stockroom.pricing.store.price_lists import (
    active_override,
    list_by_id,
    price_list_of,
    terms_values,
)
from stockroom.pricing.tables import price_lists, prices

_SCOPE = (
    price_lists.c.currency_code,
    price_lists.c.channel,
    price_lists.c.customer_group,
    price_lists.c.country,
)


def _versions(dialect: str) -> Select[Any]:
    """Every version of the SKUs in any list of one currency: what the precedence
    (``domain.price_choice``) chooses from. Built once per dialect: the cache runs it
    on every miss."""
    return (
        select(*prices.c, *_SCOPE)
        .join(price_lists, price_lists.c.id == prices.c.price_list_id)
        .where(
            price_lists.c.currency_code == bindparam("currency_code"),
            one_of(prices.c.sku, "skus", dialect),
        )
        .order_by(prices.c.id)
    )


VERSIONS = {dialect: _versions(dialect) for dialect in DIALECTS}


class PriceStore:
    def __init__(self, engine: AsyncEngine, changes: ChangeRecorder) -> None:
        self.engine = engine
        self._changes = changes

    async def record(
        self,
        price: NewPrice,
        window: tuple[datetime, datetime | None],
        recorded_at: datetime,
        key: RequestKey | None = None,
    ) -> PriceVersion:
        """Add a price version (once per request id) to its list: the one named, or its
        scope's active OVERRIDE list, created when the scope has none."""
        valid_from, valid_until = window
        schedule = price.schedule

        async def work(connection: AsyncConnection) -> PriceVersion:
            if key is not None and (earlier := await find_created(connection, prices, key)):
                return await _stored(connection, earlier)  # a retry: what it recorded
            # Before deciding: the list's status and the scope's active list stay as read
            # until this commits (a retry racing its first attempt meets insert_once).
            await lock_catalog(connection)
            price_list = await self._target(connection, price, recorded_at)
            row, created = await insert_once(
                connection,
                prices,
                {
                    "price_list_id": int(price_list.list_id),
                    "sku": price.sku,
                    "tiers_mode": schedule.mode.value if schedule.mode else None,
                    "tiers": [_tier_document(tier) for tier in schedule.tiers],
                    "valid_from": valid_from,
                    "valid_until": valid_until,
                    "recorded_at": recorded_at,
                    "tax_inclusive": price.tax_inclusive,
                },
                key,
            )
            if not created:  # a retry that raced its first attempt: that one's version
                return await _stored(connection, row)
            version = _version(row, price_list.scope)
            await self._changes.price_recorded(connection, version, recorded_at)
            return version

        return await run_transaction(self.engine, work)

    async def _target(
        self, connection: AsyncConnection, price: NewPrice, now: datetime
    ) -> PriceList:
        """The list the price goes to (under the catalog lock: it cannot be archived, nor
        another list activated for the scope, before this commits)."""
        if price.list_id:
            named = await list_by_id(connection, int(price.list_id))
            if named is None:
                raise list_not_found(price.list_id)
            check_target(named, price.scope.currency_code)
            return named
        scope = price.scope
        current = await active_override(connection, scope)
        if current is not None:
            return current
        terms = implicit_list(scope, now)
        insert = (
            price_lists.insert()
            .values(**terms_values(terms), status="ACTIVE", created_at=now, activated_at=now)
            .returning(*price_lists.c)
        )
        created = (await connection.execute(insert)).one()
        price_list = price_list_of(created)
        await self._changes.price_list_changed(connection, price_list, now)
        return price_list

    async def versions(
        self, skus: Sequence[str], currency_code: str
    ) -> dict[str, list[PriceVersion]]:
        """Every recorded version of each of ``skus`` in ``currency_code``'s lists, oldest
        first; a SKU without any maps to an empty list."""
        parameters = {"currency_code": currency_code, "skus": sorted(set(skus))}

        async def work(connection: AsyncConnection) -> list[Any]:
            return list(await connection.execute(VERSIONS[connection.dialect.name], parameters))

        by_sku: dict[str, list[PriceVersion]] = {sku: [] for sku in skus}
        for row in await run_autocommit(self.engine, work):
            by_sku[row.sku].append(_version(row, _scope_of(row)))
        return by_sku

    async def in_list(self, list_id: str, after_id: int, limit: int) -> list[PriceVersion]:
        """The versions recorded in one list in recording order, after ``after_id``."""
        query = (
            select(*prices.c, *_SCOPE)
            .join(price_lists, price_lists.c.id == prices.c.price_list_id)
            .where(prices.c.price_list_id == int(list_id), prices.c.id > after_id)
            .order_by(prices.c.id)
            .limit(limit)
        )

        async def work(connection: AsyncConnection) -> list[Any]:
            return list(await connection.execute(query))

        return [_version(row, _scope_of(row)) for row in await run_autocommit(self.engine, work)]

    async def history(
        self, sku: str, currency_code: str, after_id: int, limit: int
    ) -> list[PriceVersion]:
        """Versions of ``sku`` in recording order, after ``after_id``, at most ``limit``."""
        query = (
            select(*prices.c, *_SCOPE)
            .join(price_lists, price_lists.c.id == prices.c.price_list_id)
            .where(prices.c.sku == sku, prices.c.id > after_id)
            .order_by(prices.c.id)
            .limit(limit)
        )
        if currency_code:
            query = query.where(price_lists.c.currency_code == currency_code)

        async def work(connection: AsyncConnection) -> list[Any]:
            return list(await connection.execute(query))

        return [_version(row, _scope_of(row)) for row in await run_autocommit(self.engine, work)]


async def _stored(connection: AsyncConnection, row: Row[Any]) -> PriceVersion:
    """A version read back with the scope of its list."""
    price_list = await list_by_id(connection, int(row.price_list_id))
    assert price_list is not None  # prices reference their list; lists are never deleted
    return _version(row, price_list.scope)


def _scope_of(row: Row[Any]) -> PriceListScope:
    return PriceListScope(row.currency_code, row.channel, row.customer_group, row.country)


def _tier_document(tier: Tier) -> dict[str, int | None]:
    return {
        "up_to": tier.up_to,
        "unit_amount_minor": tier.unit_amount_minor,
        "flat_amount_minor": tier.flat_amount_minor,
    }


def _version(row: Row[Any], scope: PriceListScope) -> PriceVersion:
    schedule = PriceSchedule(
        tuple(
            Tier(t["up_to"], int(t["unit_amount_minor"]), int(t["flat_amount_minor"]))
            for t in row.tiers
        ),
        TiersMode(row.tiers_mode) if row.tiers_mode else None,
    )
    return PriceVersion(
        price_id=str(row.id),
        sku=row.sku,
        scope=scope,
        schedule=schedule,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        recorded_at=row.recorded_at,
        tax_inclusive=bool(row.tax_inclusive),
        list_id=str(row.price_list_id),
    )
