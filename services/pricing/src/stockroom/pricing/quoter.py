"""Use cases for quotes: price a cart with its availability and keep it; read it back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from stockroom.common.db import Clock, RequestKey
from stockroom.common.errors import (
    FailedPrecondition,
    FieldViolation,
    NotFound,
    PreconditionViolation,
    ResourceRef,
)
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.domain.prices import PriceVersion
from stockroom.pricing.domain.quotes import (
    Cart,
    CartLine,
    Quote,
    StockCheck,
    price_cart,
    validate_cart,
)
from stockroom.pricing.domain.validation import check_request_id, new_problems, raise_if_any
from stockroom.pricing.store.prices import PriceStore
from stockroom.pricing.store.promotions import PromotionStore
from stockroom.pricing.store.quotes import QuoteStore

TimeRemaining = Callable[[], float | None]


class StockChecker(Protocol):
    """Asks whether a cart's lines can be served; answers UNKNOWN rather than failing."""

    async def check(
        self, lines: Sequence[CartLine], time_remaining_s: float | None
    ) -> StockCheck: ...


def no_deadline() -> float | None:
    return None


class Quoter:
    def __init__(
        self,
        prices: PriceStore,
        promotions: PromotionStore,
        quotes: QuoteStore,
        stock: StockChecker,
        clock: Clock,
        quote_ttl: timedelta,
    ) -> None:
        self._prices = prices
        self._promotions = promotions
        self._quotes = quotes
        self._stock = stock
        self._clock = clock
        self._quote_ttl = quote_ttl

    async def quote(
        self,
        cart: Cart,
        key: RequestKey | None = None,
        time_remaining: TimeRemaining = no_deadline,
    ) -> Quote:
        """Price ``cart`` at its moment, ask inventory meanwhile, keep the quote.

        Inventory is asked while prices and promotions are read, so its wait
        overlaps pricing's own; a retry with the same request id returns the
        first quote without asking anything again.
        """
        problems = new_problems()
        check_request_id(problems, key.request_id if key else "")
        validate_cart(problems, cart)
        raise_if_any(problems)
        if key is not None:
            earlier = await self._quotes.made_for(key)
            if earlier is not None:
                return earlier
        now = self._clock()
        price_time = cart.price_time or now
        currency_code = cart.scope.currency_code
        skus = [line.sku for line in cart.lines]
        stock_check = asyncio.create_task(self._stock.check(cart.lines, time_remaining()))
        try:
            prices = await self._prices.in_effect(skus, cart.scope, price_time)
            _require_prices(cart, prices, price_time)
            promotions = await self._promotions.for_cart(currency_code, skus, price_time)
            priced = price_cart(cart.lines, prices, promotions, currency_code)
            stock = await stock_check
        except BaseException:
            stock_check.cancel()
            await asyncio.gather(stock_check, return_exceptions=True)
            raise
        quote = Quote(
            quote_id=str(uuid.uuid4()),
            scope=cart.scope,
            price_time=price_time,
            created_at=now,
            expire_at=now + self._quote_ttl,
            priced=priced,
            stock=stock,
        )
        return await self._quotes.save(quote, key)

    async def get(self, quote_id: str) -> Quote:
        """The quote as it was made; FAILED_PRECONDITION once it has expired."""
        quote = await self._quotes.get(quote_id) if _is_uuid(quote_id) else None
        if quote is None:
            raise NotFound(
                f"no quote {quote_id!r}",
                reason="QUOTE_NOT_FOUND",
                domain=DOMAIN,
                resource=ResourceRef("quote", quote_id),
            )
        if quote.expired(self._clock()):
            expired = f"quote {quote_id} expired at {quote.expire_at.isoformat()}; quote again"
            raise FailedPrecondition(
                expired,
                reason="QUOTE_EXPIRED",
                domain=DOMAIN,
                metadata={"expire_time": quote.expire_at.isoformat()},
                precondition_violations=[
                    PreconditionViolation("QUOTE_EXPIRED", f"quotes/{quote_id}", expired)
                ],
            )
        return quote


def _require_prices(cart: Cart, prices: dict[str, PriceVersion], moment: datetime) -> None:
    """NOT_FOUND naming every line whose SKU has no price in effect."""
    currency_code = cart.scope.currency_code
    missing = [(i, line.sku) for i, line in enumerate(cart.lines) if line.sku not in prices]
    if not missing:
        return
    skus = [sku for _, sku in missing]
    raise NotFound(
        f"no {currency_code} price in effect at {moment.isoformat()} for {', '.join(skus)}",
        reason="PRICE_NOT_FOUND",
        domain=DOMAIN,
        metadata={"skus": ",".join(skus), "currency_code": currency_code},
        resource=ResourceRef("price", f"{skus[0]}/{currency_code}"),
        field_violations=[
            FieldViolation(
                f"lines[{i}].sku", f"no {currency_code} price for {sku}", "PRICE_NOT_FOUND"
            )
            for i, sku in missing
        ],
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
