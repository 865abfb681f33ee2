"""Price lists and price versions in the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, or_, select
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
from stockroom.pricing.domain.prices import PriceListScope, PriceVersion, most_specific
from stockroom.pricing.domain.tiers import PriceSchedule, Tier, TiersMode
from stockroom.pricing.tables import price_lists, prices


def _in_effect(dialect: str) -> Select[Any]:
    """The version in effect per (list, SKU) at a moment, in the lists a scope falls back to.

    Within each list, the latest valid_from wins, then the latest recorded:
    one window function keeps only that version per (list, SKU). The lists of
    ``PriceListScope.fallbacks`` are those of the currency whose channel is
    the scope's or any ('') and whose customer group is the scope's or any.
    Built once per dialect: Quote runs it on every call.
    """
    rank = (
        func.row_number()
        .over(
            partition_by=(prices.c.price_list_id, prices.c.sku),
            order_by=(prices.c.valid_from.desc(), prices.c.id.desc()),
        )
        .label("rank")
    )
    moment = bindparam("moment", type_=prices.c.valid_from.type)
    ranked = (
        select(
            *prices.c,
            price_lists.c.currency_code,
            price_lists.c.channel,
            price_lists.c.customer_group,
            rank,
        )
        .join(price_lists, price_lists.c.id == prices.c.price_list_id)
        .where(
            price_lists.c.currency_code == bindparam("currency_code"),
            price_lists.c.channel.in_((bindparam("channel"), "")),
            price_lists.c.customer_group.in_((bindparam("customer_group"), "")),
            one_of(prices.c.sku, "skus", dialect),
            prices.c.valid_from <= moment,
            or_(prices.c.valid_until.is_(None), prices.c.valid_until > moment),
        )
        .subquery()
    )
    return select(ranked).where(ranked.c.rank == 1)


IN_EFFECT = {dialect: _in_effect(dialect) for dialect in DIALECTS}


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
    ) -> PriceVersion:
        """Add a price version (once per request id), creating its price list on first use."""
        valid_from, valid_until = window

        async def work(connection: AsyncConnection) -> Row[Any]:
            price_list_id = await _price_list_id(connection, scope)
            row, _ = await insert_once(
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
                },
                key,
            )
            return row

        return _version(await run_transaction(self.engine, work), scope)

    async def in_effect(
        self, skus: Sequence[str], scope: PriceListScope, moment: datetime
    ) -> dict[str, PriceVersion]:
        """The version that applies at ``moment`` for each SKU that has one, from the most
        specific of ``scope``'s fallback lists (``domain.prices`` states the rule)."""
        parameters = {
            "currency_code": scope.currency_code,
            "channel": scope.channel,
            "customer_group": scope.customer_group,
            "skus": sorted(set(skus)),
            "moment": moment,
        }

        async def work(connection: AsyncConnection) -> list[Any]:
            return list(await connection.execute(IN_EFFECT[connection.dialect.name], parameters))

        rows = await run_autocommit(self.engine, work)
        by_sku: dict[str, dict[PriceListScope, PriceVersion]] = {}
        for row in rows:
            row_scope = PriceListScope(row.currency_code, row.channel, row.customer_group)
            by_sku.setdefault(row.sku, {})[row_scope] = _version(row, row_scope)
        chosen = {sku: most_specific(versions, scope) for sku, versions in by_sku.items()}
        return {sku: version for sku, version in chosen.items() if version is not None}

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
            _version(row, PriceListScope(row.currency_code, row.channel, row.customer_group))
            for row in rows
        ]


async def _price_list_id(connection: AsyncConnection, scope: PriceListScope) -> int:
    key = {
        "currency_code": scope.currency_code,
        "channel": scope.channel,
        "customer_group": scope.customer_group,
    }
    await connection.execute(
        upsert_insert(connection, price_lists)
        .values(**key)
        .on_conflict_do_nothing(
            index_elements=[
                price_lists.c.currency_code,
                price_lists.c.channel,
                price_lists.c.customer_group,
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
    )
