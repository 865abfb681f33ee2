"""Price lists and price versions in the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import (
    DIALECTS,
    RequestKey,
    insert_once,
    one_of,
    run_autocommit,
    run_transaction,
    upsert_insert,
)
from stockroom.pricing.domain.prices import PriceListScope, PriceVersion, in_effect_at
from stockroom.pricing.domain.tiers import PriceSchedule, Tier, TiersMode
from stockroom.pricing.store.changes import PRICE, record_change
from stockroom.pricing.tables import price_lists, prices


def _versions(dialect: str) -> Select[Any]:
    """Every version of the SKUs in any list of one currency: what the in-effect rule
    (``domain.prices.in_effect_at``) chooses from. Built once per dialect: the cache
    runs it on every miss."""
    return (
        select(
            *prices.c,
            price_lists.c.currency_code,
            price_lists.c.channel,
            price_lists.c.customer_group,
            price_lists.c.country,
        )
        .join(price_lists, price_lists.c.id == prices.c.price_list_id)
        .where(
            price_lists.c.currency_code == bindparam("currency_code"),
            one_of(prices.c.sku, "skus", dialect),
        )
        .order_by(prices.c.id)
    )


VERSIONS = {dialect: _versions(dialect) for dialect in DIALECTS}


class PriceStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(
        self,
        sku: str,
        scope: PriceListScope,
        schedule: PriceSchedule,
        window: tuple[datetime, datetime | None],
        recorded_at: datetime,
        key: RequestKey | None = None,
        tax_inclusive: bool = False,
    ) -> PriceVersion:
        """Add a price version (once per request id), creating its price list on first use."""
        valid_from, valid_until = window

        async def work(connection: AsyncConnection) -> Row[Any]:
            price_list_id = await _price_list_id(connection, scope)
            row, created = await insert_once(
                connection,
                prices,
                {
                    "price_list_id": price_list_id,
                    "sku": sku,
                    "tiers_mode": schedule.mode.value if schedule.mode else None,
                    "tiers": [_tier_document(tier) for tier in schedule.tiers],
                    "valid_from": valid_from,
                    "valid_until": valid_until,
                    "recorded_at": recorded_at,
                    "tax_inclusive": tax_inclusive,
                },
                key,
            )
            if created:
                await record_change(
                    connection,
                    PRICE,
                    sku,
                    {"sku": sku, "currency_code": scope.currency_code, "price_id": str(row.id)},
                    recorded_at,
                )
            return row

        return _version(await run_transaction(self.engine, work), scope)

    async def in_effect(
        self, skus: Sequence[str], scope: PriceListScope, moment: datetime
    ) -> dict[str, PriceVersion]:
        """The version that applies at ``moment`` for each SKU that has one, from the most
        specific of ``scope``'s fallback lists (``domain.prices.in_effect_at``)."""
        by_sku = await self.versions(skus, scope.currency_code)
        chosen = {sku: in_effect_at(versions, scope, moment) for sku, versions in by_sku.items()}
        return {sku: version for sku, version in chosen.items() if version is not None}

    async def versions(
        self, skus: Sequence[str], currency_code: str
    ) -> dict[str, list[PriceVersion]]:
        """Every version of each of ``skus`` in ``currency_code``'s lists, oldest first;
        a SKU without any maps to an empty list."""
        parameters = {"currency_code": currency_code, "skus": sorted(set(skus))}

        async def work(connection: AsyncConnection) -> list[Any]:
            return list(await connection.execute(VERSIONS[connection.dialect.name], parameters))

        by_sku: dict[str, list[PriceVersion]] = {sku: [] for sku in skus}
        for row in await run_autocommit(self.engine, work):
            row_scope = PriceListScope(
                row.currency_code, row.channel, row.customer_group, row.country
            )
            by_sku[row.sku].append(_version(row, row_scope))
        return by_sku

    async def in_list(self, scope: PriceListScope, after_id: int, limit: int) -> list[PriceVersion]:
        """The versions of one list in recording order, after ``after_id``, at most ``limit``."""
        query = (
            select(*prices.c)
            .join(price_lists, price_lists.c.id == prices.c.price_list_id)
            .where(
                price_lists.c.currency_code == scope.currency_code,
                price_lists.c.channel == scope.channel,
                price_lists.c.customer_group == scope.customer_group,
                price_lists.c.country == scope.country,
                prices.c.id > after_id,
            )
            .order_by(prices.c.id)
            .limit(limit)
        )

        async def work(connection: AsyncConnection) -> list[Any]:
            return list(await connection.execute(query))

        return [_version(row, scope) for row in await run_autocommit(self.engine, work)]

    async def history(
        self, sku: str, currency_code: str, after_id: int, limit: int
    ) -> list[PriceVersion]:
        """Versions of ``sku`` in recording order, after ``after_id``, at most ``limit``."""
        query = (
            select(
                *prices.c,
                price_lists.c.currency_code,
                price_lists.c.channel,
                price_lists.c.customer_group,
                price_lists.c.country,
            )
            .join(price_lists, price_lists.c.id == prices.c.price_list_id)
            .where(prices.c.sku == sku, prices.c.id > after_id)
            .order_by(prices.c.id)
            .limit(limit)
        )
        if currency_code:
            query = query.where(price_lists.c.currency_code == currency_code)

        async def work(connection: AsyncConnection) -> list[Any]:
            return list(await connection.execute(query))

        rows = await run_autocommit(self.engine, work)
        return [
            _version(
                row, PriceListScope(row.currency_code, row.channel, row.customer_group, row.country)
            )
            for row in rows
        ]


async def _price_list_id(connection: AsyncConnection, scope: PriceListScope) -> int:
    key = {
        "currency_code": scope.currency_code,
        "channel": scope.channel,
        "customer_group": scope.customer_group,
        "country": scope.country,
    }
    await connection.execute(
        upsert_insert(connection, price_lists)
        .values(**key)
        .on_conflict_do_nothing(
            index_elements=[
                price_lists.c.currency_code,
                price_lists.c.channel,
                price_lists.c.customer_group,
                price_lists.c.country,
            ]
        )
    )
    query = select(price_lists.c.id).where(
        *(price_lists.c[name] == value for name, value in key.items())
    )
    return int((await connection.execute(query)).scalar_one())


def _tier_document(tier: Tier) -> dict[str, int | None]:
    return {
        "up_to": tier.up_to,
        "unit_amount_minor": tier.unit_amount_minor,
        "flat_amount_minor": tier.flat_amount_minor,
    }


def _version(row: Row[*tuple[Any, ...]], scope: PriceListScope) -> PriceVersion:
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
    )
