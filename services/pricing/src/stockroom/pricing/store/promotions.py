"""Promotions, their versions, SKUs, discount codes and usage, in the database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import (
    RequestKey,
    insert_once,
    run_autocommit,
    run_transaction,
    upsert_insert,
)
from stockroom.common.errors import AlreadyExists, ResourceRef
from stockroom.pricing.domain.codes import DiscountCode
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.domain.promotions import (
    Promotion,
    PromotionLimits,
    PromotionState,
    PromotionStatus,
    PromotionTarget,
    PromotionTerms,
    Usage,
    for_cart,
)
from stockroom.pricing.store.changes import ChangeRecorder
from stockroom.pricing.tables import (
    code_batches,
    customer_usage,
    promotion_codes,
    promotion_skus,
    promotion_versions,
    promotions,
)


class VersionConflict(Exception):
    """Another change made a new version first; read again and retry."""


class PromotionStore:
    def __init__(self, engine: AsyncEngine, changes: ChangeRecorder) -> None:
        self.engine = engine
        self._changes = changes

    async def create(
        self,
        terms: PromotionTerms,
        valid_from: datetime,
        created_at: datetime,
        key: RequestKey | None = None,
    ) -> Promotion:
        """Record a promotion with its SKUs and its first version (once per request id)."""

        async def work(connection: AsyncConnection) -> Promotion:
            row, created = await insert_once(
                connection,
                promotions,
                {
                    **_terms_values(terms),
                    "valid_from": valid_from,
                    "created_at": created_at,
                    "status": PromotionStatus.ACTIVE.value,
                    "version": 1,
                    "updated_at": created_at,
                },
                key,
            )
            promotion = (await _with_skus(connection, [row]))[0]
            if created:
                promotion = replace(promotion, terms=replace(promotion.terms, skus=terms.skus))
                await _insert_skus(connection, row.id, terms.skus)
                await _insert_version(connection, promotion)
                await self._changes.promotion_changed(connection, promotion, created_at)
            return promotion

        return await run_transaction(self.engine, work)

    async def save_version(self, promotion: Promotion, previous_version: int) -> Promotion:
        """Store ``promotion`` as the next version of the one at ``previous_version``;
        VersionConflict when another change got there first."""

        async def work(connection: AsyncConnection) -> Promotion:
            pid = int(promotion.promotion_id)
            terms = promotion.terms
            statement = (
                update(promotions)
                .where(promotions.c.id == pid, promotions.c.version == previous_version)
                .values(
                    **_terms_values(terms),
                    valid_from=promotion.valid_from,
                    status=promotion.status.value,
                    version=promotion.version,
                    updated_at=promotion.updated_at,
                )
                .returning(promotions.c.id)
            )
            if (await connection.execute(statement)).first() is None:
                raise VersionConflict(promotion.promotion_id)
            await connection.execute(
                delete(promotion_skus).where(promotion_skus.c.promotion_id == pid)
            )
            await _insert_skus(connection, pid, terms.skus)
            await _insert_version(connection, promotion)
            await self._changes.promotion_changed(
                connection, promotion, promotion.updated_at or promotion.created_at
            )
            return promotion

        return await run_transaction(self.engine, work)

    async def get(self, promotion_id: int) -> Promotion | None:
        async def work(connection: AsyncConnection) -> Promotion | None:
            query = select(promotions).where(promotions.c.id == promotion_id)
            row = (await connection.execute(query)).one_or_none()
            return None if row is None else (await _with_skus(connection, [row]))[0]

        return await run_autocommit(self.engine, work)

    async def page(
        self,
        after_id: int,
        limit: int,
        active_at: datetime | None,
        states: frozenset[PromotionState] = frozenset(),
        moment: datetime | None = None,
    ) -> list[Promotion]:
        """Promotions in creation order after ``after_id``, at most ``limit``; only those in
        effect at ``active_at`` when it is given, only those in ``states`` at ``moment``
        when states are given."""
        query = select(promotions).where(promotions.c.id > after_id)
        if active_at is not None:
            query = _in_effect(query, active_at)
        if states and moment is not None:
            query = query.where(or_(*(_in_state(state, moment) for state in states)))
        query = query.order_by(promotions.c.id).limit(limit)

        async def work(connection: AsyncConnection) -> list[Promotion]:
            rows = (await connection.execute(query)).all()
            return await _with_skus(connection, rows)

        return await run_autocommit(self.engine, work)

    async def for_cart(
        self, currency_code: str, skus: Sequence[str], moment: datetime
    ) -> list[Promotion]:
        """The promotions that may apply to a cart (``domain.promotions.for_cart``)."""
        return for_cart(await self.active(moment), currency_code, skus, moment)

    async def active(self, horizon: datetime) -> list[Promotion]:
        """Every promotion not paused or ended whose window is open at or after
        ``horizon``, with all its SKUs: what carts from ``horizon`` on choose from."""

        async def work(connection: AsyncConnection) -> list[Promotion]:
            rows = (await connection.execute(_ACTIVE, {"horizon": horizon})).all()
            return await _with_skus(connection, rows)

        return await run_autocommit(self.engine, work)

    async def usage(self, promotion_ids: Sequence[str]) -> dict[str, Usage]:
        """What redemptions consumed of each promotion, read now (caches hold terms only)."""
        if not promotion_ids:
            return {}
        query = select(promotions.c.id, promotions.c.uses, promotions.c.spent_minor).where(
            promotions.c.id.in_(sorted(int(p) for p in promotion_ids))
        )

        async def work(connection: AsyncConnection) -> dict[str, Usage]:
            return {
                str(row.id): Usage(int(row.uses), int(row.spent_minor))
                for row in await connection.execute(query)
            }

        return await run_autocommit(self.engine, work)

    async def create_codes(
        self,
        promotion_id: int,
        named: Sequence[str],
        generate: Callable[[], list[str]],
        max_uses: int | None,
        created_at: datetime,
        key: RequestKey | None = None,
    ) -> list[DiscountCode]:
        """Add ``named`` codes and ``generate()``'s codes to a promotion in one batch (once
        per request id). A named code that exists already is ALREADY_EXISTS; a generated
        one that does (never seen: 59 random bits) is drawn again, a few times at most."""

        async def work(connection: AsyncConnection) -> list[DiscountCode]:
            batch, created = await insert_once(
                connection,
                code_batches,
                {"promotion_id": promotion_id, "created_at": created_at},
                key,
            )
            if created:
                await self._insert_codes(connection, promotion_id, batch.id, named, max_uses)
                generated: list[str] = generate()
                for _ in range(5):
                    generated = await self._insert_codes(
                        connection, promotion_id, batch.id, generated, max_uses, taken_ok=True
                    )
                    if not generated:
                        break
                    generated = generate()[: len(generated)]
                else:
                    raise RuntimeError("generated discount codes kept colliding")
            query = (
                select(promotion_codes)
                .where(promotion_codes.c.batch_id == batch.id)
                .order_by(promotion_codes.c.code)
            )
            return [_code(row) for row in await connection.execute(query)]

        return await run_transaction(self.engine, work)

    async def _insert_codes(
        self,
        connection: AsyncConnection,
        promotion_id: int,
        batch_id: int,
        codes: Sequence[str],
        max_uses: int | None,
        *,
        taken_ok: bool = False,
    ) -> list[str]:
        """Insert the codes that are free; return those that were taken (AlreadyExists
        instead unless ``taken_ok``)."""
        if not codes:
            return []

        statement = (
            upsert_insert(connection, promotion_codes)
            .on_conflict_do_nothing(index_elements=[promotion_codes.c.code])
            .returning(promotion_codes.c.code)
        )
        rows = [
            {"code": code, "promotion_id": promotion_id, "batch_id": batch_id, "max_uses": max_uses}
            for code in codes
        ]
        inserted: set[str] = set()
        for start in range(0, len(rows), 1000):
            result = await connection.execute(statement.values(rows[start : start + 1000]))
            inserted.update(row.code for row in result)
        taken = [code for code in codes if code not in inserted]
        if taken and not taken_ok:
            raise AlreadyExists(
                f"discount code {taken[0]} exists already",
                reason="CODE_EXISTS",
                domain=DOMAIN,
                resource=ResourceRef("discount_code", taken[0]),
            )
        return taken

    async def codes(self, codes: Sequence[str]) -> dict[str, tuple[DiscountCode, Promotion]]:
        """The codes that exist among ``codes``, each with its promotion (all its SKUs)."""
        if not codes:
            return {}

        async def work(connection: AsyncConnection) -> dict[str, tuple[DiscountCode, Promotion]]:
            query = select(promotion_codes).where(promotion_codes.c.code.in_(sorted(set(codes))))
            found = [_code(row) for row in await connection.execute(query)]
            ids = sorted({int(code.promotion_id) for code in found})
            rows = (
                await connection.execute(select(promotions).where(promotions.c.id.in_(ids)))
            ).all()
            by_id = {p.promotion_id: p for p in await _with_skus(connection, rows)}
            return {code.code: (code, by_id[code.promotion_id]) for code in found}

        return await run_autocommit(self.engine, work)

    async def customer_usage(
        self, customer_id: str, promotion_ids: Sequence[str]
    ) -> dict[str, Usage]:
        """What ``customer_id``'s redemptions consumed of each promotion (absent: nothing)."""
        if not customer_id or not promotion_ids:
            return {}
        query = select(customer_usage).where(
            customer_usage.c.customer_id == customer_id,
            customer_usage.c.promotion_id.in_(sorted(int(p) for p in promotion_ids)),
        )

        async def work(connection: AsyncConnection) -> dict[str, Usage]:
            return {
                str(row.promotion_id): Usage(int(row.uses), int(row.spent_minor))
                for row in await connection.execute(query)
            }

        return await run_autocommit(self.engine, work)


def _terms_values(terms: PromotionTerms) -> dict[str, Any]:
    limits = terms.limits
    return {
        "display_name": terms.display_name,
        "currency_code": terms.currency_code,
        "target": terms.target.value,
        "basis_points_off": terms.basis_points_off,
        "amount_off_minor": terms.amount_off_minor,
        "minimum_quantity": terms.minimum_quantity,
        "minimum_subtotal_minor": terms.minimum_subtotal_minor,
        "valid_until": terms.valid_until,
        "requires_code": terms.requires_code,
        "max_uses": limits.max_uses,
        "max_uses_per_customer": limits.max_uses_per_customer,
        "budget_minor": limits.budget_minor,
        "budget_per_customer_minor": limits.budget_per_customer_minor,
    }


async def _insert_skus(
    connection: AsyncConnection, promotion_id: int, skus: frozenset[str]
) -> None:
    if skus:
        await connection.execute(
            promotion_skus.insert(),
            [{"promotion_id": promotion_id, "sku": sku} for sku in sorted(skus)],
        )


async def _insert_version(connection: AsyncConnection, promotion: Promotion) -> None:
    await connection.execute(
        promotion_versions.insert().values(
            promotion_id=int(promotion.promotion_id),
            version=promotion.version,
            document=_version_document(promotion),
            recorded_at=promotion.updated_at or promotion.created_at,
        )
    )


def _version_document(promotion: Promotion) -> dict[str, Any]:
    terms = promotion.terms
    return {
        **{k: v for k, v in _terms_values(terms).items() if k != "valid_until"},
        "skus": sorted(terms.skus),
        "valid_from": promotion.valid_from.isoformat(),
        "valid_until": terms.valid_until.isoformat() if terms.valid_until else None,
        "status": promotion.status.value,
        "version": promotion.version,
    }


_ACTIVE = (
    select(promotions)
    .where(
        promotions.c.status == PromotionStatus.ACTIVE.value,
        or_(
            promotions.c.valid_until.is_(None),
            promotions.c.valid_until > bindparam("horizon", type_=promotions.c.valid_until.type),
        ),
    )
    .order_by(promotions.c.id)
)


def _in_effect(query: Select[Any], moment: datetime) -> Select[Any]:
    return query.where(
        promotions.c.valid_from <= moment,
        or_(promotions.c.valid_until.is_(None), promotions.c.valid_until > moment),
    )


def _in_state(state: PromotionState, moment: datetime) -> Any:
    """``Promotion.state_at`` as a filter, so a page of one state is one query."""
    over = and_(promotions.c.valid_until.is_not(None), promotions.c.valid_until <= moment)
    not_over = or_(promotions.c.valid_until.is_(None), promotions.c.valid_until > moment)
    status = promotions.c.status
    if state is PromotionState.ENDED:
        return or_(status == PromotionStatus.ENDED.value, over)
    if state is PromotionState.PAUSED:
        return and_(status == PromotionStatus.PAUSED.value, not_over)
    active = and_(status == PromotionStatus.ACTIVE.value, not_over)
    if state is PromotionState.SCHEDULED:
        return and_(active, promotions.c.valid_from > moment)
    return and_(active, promotions.c.valid_from <= moment)


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
        requires_code=bool(row.requires_code),
        limits=PromotionLimits(
            row.max_uses, row.max_uses_per_customer, row.budget_minor, row.budget_per_customer_minor
        ),
    )
    return Promotion(
        str(row.id),
        terms,
        row.valid_from,
        row.created_at,
        status=PromotionStatus(row.status),
        version=int(row.version),
        updated_at=row.updated_at,
        usage=Usage(int(row.uses), int(row.spent_minor)),
    )


def _code(row: Row[Any]) -> DiscountCode:
    return DiscountCode(row.code, str(row.promotion_id), row.max_uses, int(row.uses))
