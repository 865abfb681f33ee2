"""Redemptions: a quote's promotions, codes, limits and budgets consumed all or nothing.

One transaction per redemption. It locks what it consumes in one order
(promotions by id, then the customer's usage rows, then codes by code), so
concurrent redemptions queue on the rows they share and never deadlock. The
promotion's row lock serialises every redemption of that promotion, so the
domain's check of the customer's limits (``promotions.fits``) sees counts no
other redemption is changing; the CHECK constraints on the promotion and code
rows refuse any update past their limits even if that check were wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import (
    RequestKey,
    find_created,
    run_autocommit,
    run_transaction,
    upsert_insert,
)
from stockroom.common.errors import FailedPrecondition, PreconditionViolation
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.domain.promotions import PromotionLimits, Usage, fits
from stockroom.pricing.tables import (
    customer_usage,
    promotion_codes,
    promotions,
    redemption_items,
    redemptions,
)


@dataclass(frozen=True)
class RedeemedPromotion:
    promotion_id: str
    code: str
    amount_minor: int


@dataclass(frozen=True)
class Redemption:
    redemption_id: str
    quote_id: str
    state: str  # REDEEMED or RELEASED
    items: tuple[RedeemedPromotion, ...]
    customer_id: str
    currency_code: str
    created_at: datetime
    released_at: datetime | None


def limit_reached(quote_id: str, what: str) -> FailedPrecondition:
    message = f"quote {quote_id} cannot be redeemed: {what}"
    return FailedPrecondition(
        message,
        reason="LIMIT_REACHED",
        domain=DOMAIN,
        precondition_violations=[
            PreconditionViolation("LIMIT_REACHED", f"quotes/{quote_id}", what)
        ],
    )


class RedemptionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def redeem(
        self,
        quote_id: str,
        customer_id: str,
        currency_code: str,
        items: Sequence[RedeemedPromotion],
        now: datetime,
        key: RequestKey,
    ) -> Redemption:
        """Consume ``items`` for ``quote_id`` once per request id: the earlier redemption
        when this request id made one; FAILED_PRECONDITION QUOTE_ALREADY_REDEEMED when
        another did, LIMIT_REACHED when a limit or budget would be passed."""

        async def work(connection: AsyncConnection) -> Redemption:
            insert = (
                upsert_insert(connection, redemptions)
                .values(
                    quote_id=quote_id,
                    request_id=key.request_id,
                    request_hash=key.fingerprint,
                    customer_id=customer_id,
                    currency_code=currency_code,
                    state="REDEEMED",
                    created_at=now,
                )
                .on_conflict_do_nothing()
                .returning(redemptions.c.id)
            )
            created = (await connection.execute(insert)).first()
            if created is None:
                earlier = await find_created(connection, redemptions, key)
                if earlier is None:
                    message = f"quote {quote_id} was redeemed by another request"
                    raise FailedPrecondition(
                        message,
                        reason="QUOTE_ALREADY_REDEEMED",
                        domain=DOMAIN,
                        precondition_violations=[
                            PreconditionViolation(
                                "QUOTE_ALREADY_REDEEMED", f"quotes/{quote_id}", message
                            )
                        ],
                    )
                return await _load(connection, earlier)
            try:
                await _consume(connection, quote_id, customer_id, items, +1)
            except IntegrityError as error:  # a CHECK refused: a limit would be passed
                raise limit_reached(quote_id, _constraint(error)) from error
            if items:
                await connection.execute(
                    redemption_items.insert(),
                    [
                        {
                            "redemption_id": created.id,
                            "promotion_id": int(item.promotion_id),
                            "code": item.code or None,
                            "amount_minor": item.amount_minor,
                        }
                        for item in items
                    ],
                )
            row = (
                await connection.execute(select(redemptions).where(redemptions.c.id == created.id))
            ).one()
            return await _load(connection, row)

        return await run_transaction(self.engine, work, repeatable=True)

    async def release(self, redemption_id: int, now: datetime) -> Redemption | None:
        """Give back what a redemption consumed, once; None when there is no such one."""

        async def work(connection: AsyncConnection) -> Redemption | None:
            statement = (
                update(redemptions)
                .where(redemptions.c.id == redemption_id, redemptions.c.state == "REDEEMED")
                .values(state="RELEASED", released_at=now)
                .returning(*redemptions.c)
            )
            row = (await connection.execute(statement)).one_or_none()
            if row is None:
                query = select(redemptions).where(redemptions.c.id == redemption_id)
                row = (await connection.execute(query)).one_or_none()
                return None if row is None else await _load(connection, row)
            redemption = await _load(connection, row)
            await _consume(
                connection, redemption.quote_id, redemption.customer_id, redemption.items, -1
            )
            return redemption

        return await run_transaction(self.engine, work, repeatable=True)

    async def get(self, redemption_id: int) -> Redemption | None:
        async def work(connection: AsyncConnection) -> Redemption | None:
            query = select(redemptions).where(redemptions.c.id == redemption_id)
            row = (await connection.execute(query)).one_or_none()
            return None if row is None else await _load(connection, row)

        return await run_autocommit(self.engine, work)


async def _consume(
    connection: AsyncConnection,
    quote_id: str,
    customer_id: str,
    items: Sequence[RedeemedPromotion],
    sign: int,
) -> None:
    """Add (sign +1) or give back (-1) one use and the amount of each item, in lock order."""
    for item in sorted(items, key=lambda i: int(i.promotion_id)):
        amount = sign * item.amount_minor
        row = (
            await connection.execute(
                update(promotions)
                .where(promotions.c.id == int(item.promotion_id))
                .values(
                    uses=promotions.c.uses + sign, spent_minor=promotions.c.spent_minor + amount
                )
                .returning(*promotions.c)
            )
        ).one()
        limits = PromotionLimits(
            row.max_uses, row.max_uses_per_customer, row.budget_minor, row.budget_per_customer_minor
        )
        after = Usage(int(row.uses), int(row.spent_minor))
        customer_after = None
        if customer_id:  # counted for every customer, so limits added later see the past
            customer_after = await _add_customer_usage(
                connection, int(item.promotion_id), customer_id, sign, amount
            )
        if sign > 0 and not fits(limits, after, customer_after):
            raise limit_reached(quote_id, f"promotion {item.promotion_id} is used up")
    for item in sorted((i for i in items if i.code), key=lambda i: i.code):
        await connection.execute(
            update(promotion_codes)
            .where(promotion_codes.c.code == item.code)
            .values(uses=promotion_codes.c.uses + sign)
        )


async def _add_customer_usage(
    connection: AsyncConnection, promotion_id: int, customer_id: str, uses: int, amount: int
) -> Usage:
    if uses < 0:  # giving back: the row exists (its redemption made it)
        given_back = (
            update(customer_usage)
            .where(
                customer_usage.c.promotion_id == promotion_id,
                customer_usage.c.customer_id == customer_id,
            )
            .values(
                uses=customer_usage.c.uses + uses,
                spent_minor=customer_usage.c.spent_minor + amount,
            )
            .returning(customer_usage.c.uses, customer_usage.c.spent_minor)
        )
        row = (await connection.execute(given_back)).one()
        return Usage(int(row.uses), int(row.spent_minor))
    statement = upsert_insert(connection, customer_usage).values(
        promotion_id=promotion_id, customer_id=customer_id, uses=uses, spent_minor=amount
    )
    statement = statement.on_conflict_do_update(
        index_elements=[customer_usage.c.promotion_id, customer_usage.c.customer_id],
        set_={
            "uses": customer_usage.c.uses + statement.excluded.uses,
            "spent_minor": customer_usage.c.spent_minor + statement.excluded.spent_minor,
        },
    ).returning(customer_usage.c.uses, customer_usage.c.spent_minor)
    row = (await connection.execute(statement)).one()
    return Usage(int(row.uses), int(row.spent_minor))


async def _load(connection: AsyncConnection, row: Row[Any]) -> Redemption:
    query = (
        select(redemption_items)
        .where(redemption_items.c.redemption_id == row.id)
        .order_by(redemption_items.c.promotion_id)
    )
    items = tuple(
        RedeemedPromotion(str(item.promotion_id), item.code or "", int(item.amount_minor))
        for item in await connection.execute(query)
    )
    return Redemption(
        str(row.id),
        row.quote_id,
        row.state,
        items,
        row.customer_id,
        row.currency_code,
        row.created_at,
        row.released_at,
    )


def _constraint(error: IntegrityError) -> str:
    text = str(error.orig)
    for name, what in (
        ("promotion_codes_within_max_uses", "a discount code is used up"),
        ("promotions_within_max_uses", "a promotion is used up"),
        ("promotions_within_budget", "a promotion's budget is spent"),
    ):
        if name in text:
            return what
    raise error
