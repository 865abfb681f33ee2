"""Promotions and the SKUs they discount, in the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import (
    DIALECTS,
    RequestKey,
    insert_once,
    one_of,
    run_autocommit,
    run_transaction,
)
from stockroom.pricing.domain.promotions import Promotion, PromotionTarget, PromotionTerms
from stockroom.pricing.tables import promotion_skus, promotions


class PromotionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(
        self,
        terms: PromotionTerms,
        valid_from: datetime,
        created_at: datetime,
        key: RequestKey | None = None,
    ) -> Promotion:
        """Record a promotion with its SKUs (once per request id)."""

        async def work(connection: AsyncConnection) -> Promotion:
            row, created = await insert_once(
                connection,
                promotions,
                {
                    "display_name": terms.display_name,
                    "currency_code": terms.currency_code,
                    "target": terms.target.value,
                    "basis_points_off": terms.basis_points_off,
                    "amount_off_minor": terms.amount_off_minor,
                    "minimum_quantity": terms.minimum_quantity,
                    "minimum_subtotal_minor": terms.minimum_subtotal_minor,
                    "valid_from": valid_from,
                    "valid_until": terms.valid_until,
                    "created_at": created_at,
                },
                key,
            )
            if created and terms.skus:
                await connection.execute(
                    promotion_skus.insert(),
                    [{"promotion_id": row.id, "sku": sku} for sku in sorted(terms.skus)],
                )
            return (await _with_skus(connection, [row]))[0]

        return await run_transaction(self.engine, work)

    async def get(self, promotion_id: int) -> Promotion | None:
        async def work(connection: AsyncConnection) -> Promotion | None:
            query = select(promotions).where(promotions.c.id == promotion_id)
            row = (await connection.execute(query)).one_or_none()
            return None if row is None else (await _with_skus(connection, [row]))[0]

        return await run_autocommit(self.engine, work)

    async def page(self, after_id: int, limit: int, active_at: datetime | None) -> list[Promotion]:
        """Promotions in creation order after ``after_id``, at most ``limit``; only those in
        effect at ``active_at`` when it is given."""
        query = select(promotions).where(promotions.c.id > after_id)
        if active_at is not None:
            query = _in_effect(query, active_at)
        query = query.order_by(promotions.c.id).limit(limit)

        async def work(connection: AsyncConnection) -> list[Promotion]:
            rows = (await connection.execute(query)).all()
            return await _with_skus(connection, rows)

        return await run_autocommit(self.engine, work)

    async def for_cart(
        self, currency_code: str, skus: Sequence[str], moment: datetime
    ) -> list[Promotion]:
        """The promotions that may apply to a cart of ``skus`` at ``moment``: cart
        promotions, and SKU promotions of those SKUs (their ``skus`` cut down to the
        cart's), in the cart's currency or in every currency."""
        parameters = {"currency_code": currency_code, "skus": sorted(set(skus)), "moment": moment}

        async def work(connection: AsyncConnection) -> list[Any]:
            return list(await connection.execute(FOR_CART[connection.dialect.name], parameters))

        found: dict[int, tuple[Row[Any], set[str]]] = {}
        for row in await run_autocommit(self.engine, work):
            _, cart_skus = found.setdefault(row.id, (row, set()))
            if row.cart_sku is not None:
                cart_skus.add(row.cart_sku)
        return [_promotion(row, frozenset(cart_skus)) for row, cart_skus in found.values()]


def _for_cart(dialect: str) -> Select[Any]:
    """The promotions in effect for a cart, one row per promotion and cart SKU it lists.

    One statement (Quote runs it on every call), built once per dialect: each promotion
    in effect at the moment and in the cart's currency (or in every
    currency), joined to those of its SKUs that are in the cart; SKU
    promotions without one drop out, cart promotions stay (with no SKU).
    """
    moment = bindparam("moment", type_=promotions.c.valid_from.type)
    return (
        select(promotions, promotion_skus.c.sku.label("cart_sku"))
        .outerjoin(
            promotion_skus,
            and_(
                promotion_skus.c.promotion_id == promotions.c.id,
                one_of(promotion_skus.c.sku, "skus", dialect),
            ),
        )
        .where(
            promotions.c.valid_from <= moment,
            or_(promotions.c.valid_until.is_(None), promotions.c.valid_until > moment),
            or_(
                promotions.c.currency_code == "",
                promotions.c.currency_code == bindparam("currency_code"),
            ),
            or_(
                promotions.c.target == PromotionTarget.CART.value,
                promotion_skus.c.sku.is_not(None),
            ),
        )
        .order_by(promotions.c.id, promotion_skus.c.sku)
    )


FOR_CART = {dialect: _for_cart(dialect) for dialect in DIALECTS}


def _in_effect(query: Select[Any], moment: datetime) -> Select[Any]:
    return query.where(
        promotions.c.valid_from <= moment,
        or_(promotions.c.valid_until.is_(None), promotions.c.valid_until > moment),
    )


async def _with_skus(
    connection: AsyncConnection, rows: Sequence[Row[Any]], only: Sequence[str] | None = None
) -> list[Promotion]:
    ids = [row.id for row in rows]
    query = select(promotion_skus).where(promotion_skus.c.promotion_id.in_(ids))
    if only is not None:
        query = query.where(promotion_skus.c.sku.in_(only))
    skus: dict[int, set[str]] = {}
    for link in await connection.execute(query):
        skus.setdefault(link.promotion_id, set()).add(link.sku)
    return [_promotion(row, frozenset(skus.get(row.id, ()))) for row in rows]


def _promotion(row: Row[Any], skus: frozenset[str]) -> Promotion:
    terms = PromotionTerms(
        display_name=row.display_name,
        currency_code=row.currency_code,
        target=PromotionTarget(row.target),
        skus=skus,
        basis_points_off=row.basis_points_off,
        amount_off_minor=row.amount_off_minor,
        minimum_quantity=int(row.minimum_quantity),
        minimum_subtotal_minor=row.minimum_subtotal_minor,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
    )
    return Promotion(str(row.id), terms, row.valid_from, row.created_at)
