"""Quotes in the database: totals in columns (checked by constraints), the rest as
one JSON snapshot, since a quote is read back whole and never changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.pricing.domain.discounts import AppliedDiscount
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.promotions import PromotionTarget
from stockroom.pricing.domain.quotes import PricedCart, PricedLine, Quote, StockCheck
from stockroom.pricing.domain.tiers import Tier, TierCharge, TiersMode
from stockroom.pricing.store.idempotency import find_by_request_id, insert_once
from stockroom.pricing.tables import quotes


class QuoteStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save(self, quote: Quote, request_id: str = "", request_digest: str = "") -> Quote:
        """Keep ``quote``; when ``request_id`` already made a quote, return that one instead."""
        priced = quote.priced
        values = {
            "id": quote.quote_id,
            "currency_code": quote.scope.currency_code,
            "channel": quote.scope.channel,
            "customer_group": quote.scope.customer_group,
            "price_time": quote.price_time,
            "created_at": quote.created_at,
            "expire_at": quote.expire_at,
            "subtotal_minor": priced.subtotal_minor,
            "discount_minor": priced.discount_minor,
            "total_minor": priced.total_minor,
            "availability_reason": quote.stock.reason,
            "document": _document(quote),
        }
        async with self.engine.begin() as connection:
            row, _ = await insert_once(connection, quotes, values, request_id, request_digest)
        return _quote(row)

    async def get(self, quote_id: str) -> Quote | None:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(select(quotes).where(quotes.c.id == quote_id))
            ).one_or_none()
        return None if row is None else _quote(row)

    async def made_for(self, request_id: str, request_digest: str) -> Quote | None:
        """The quote ``request_id`` made, if any (InvalidArgument if made for another cart)."""
        async with self.engine.connect() as connection:
            row = await find_by_request_id(connection, quotes, request_id, request_digest)
        return None if row is None else _quote(row)


def _document(quote: Quote) -> dict[str, Any]:
    return {
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "price_id": line.price_id,
                "tiers_mode": line.tiers_mode.value if line.tiers_mode else None,
                "charges": [
                    {
                        "tier_index": charge.tier_index,
                        "up_to": charge.tier.up_to,
                        "unit_amount_minor": charge.tier.unit_amount_minor,
                        "flat_amount_minor": charge.tier.flat_amount_minor,
                        "quantity": charge.quantity,
                    }
                    for charge in line.charges
                ],
                "unit_amount_minor": line.unit_amount_minor,
                "total_minor": line.total_minor,
                "discounts": [_discount_document(d) for d in line.discounts],
            }
            for line in quote.priced.lines
        ],
        "cart_discounts": [_discount_document(d) for d in quote.priced.cart_discounts],
        "stock": {
            "available": None if quote.stock.available is None else dict(quote.stock.available),
            "reason": quote.stock.reason,
            "note": quote.stock.note,
        },
    }


def _discount_document(discount: AppliedDiscount) -> dict[str, Any]:
    return {
        "promotion_id": discount.promotion_id,
        "display_name": discount.display_name,
        "target": discount.target.value,
        "amount_minor": discount.amount_minor,
        "reason": discount.reason,
    }


def _quote(row: Row[Any]) -> Quote:
    document = row.document
    lines = tuple(
        PricedLine(
            sku=line["sku"],
            quantity=line["quantity"],
            price_id=line["price_id"],
            tiers_mode=TiersMode(line["tiers_mode"]) if line["tiers_mode"] else None,
            charges=tuple(
                TierCharge(
                    c["tier_index"],
                    Tier(c["up_to"], c["unit_amount_minor"], c["flat_amount_minor"]),
                    c["quantity"],
                )
                for c in line["charges"]
            ),
            unit_amount_minor=line["unit_amount_minor"],
            total_minor=line["total_minor"],
            discounts=tuple(_discount(d) for d in line["discounts"]),
        )
        for line in document["lines"]
    )
    stock = document["stock"]
    return Quote(
        quote_id=row.id,
        scope=PriceListScope(row.currency_code, row.channel, row.customer_group),
        price_time=row.price_time,
        created_at=row.created_at,
        expire_at=row.expire_at,
        priced=PricedCart(
            row.currency_code, lines, tuple(_discount(d) for d in document["cart_discounts"])
        ),
        stock=StockCheck(stock["available"], stock["reason"], stock["note"]),
    )


def _discount(document: dict[str, Any]) -> AppliedDiscount:
    return AppliedDiscount(
        document["promotion_id"],
        document["display_name"],
        PromotionTarget(document["target"]),
        document["amount_minor"],
        document["reason"],
    )
