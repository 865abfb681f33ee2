"""Use cases for quotes: price a cart with its availability and keep it; read it back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import replace
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
from stockroom.pricing.domain.codes import DiscountCode
from stockroom.pricing.domain.explain import (
    LineExplanation,
    explain_price,
    explain_promotions,
    explain_tiers,
)
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.domain.offers import Selection, answer_codes, select_offers
from stockroom.pricing.domain.price_choice import ListView, candidates, choose
from stockroom.pricing.domain.price_lists import PriceList, check_trial, place_pending
from stockroom.pricing.domain.prices import PriceVersion, pending_version
from stockroom.pricing.domain.promotions import (
    Promotion,
    PromotionLimits,
    Usage,
    for_cart,
    pending_promotion,
)
from stockroom.pricing.domain.quotes import (
    DEFAULT_RULES,
    Cart,
    CartLine,
    Quote,
    StockCheck,
    StockHold,
    price_cart,
    validate_cart,
)
from stockroom.pricing.domain.rounding import CurrencyRules
from stockroom.pricing.domain.validation import check_request_id, new_problems, raise_if_any
from stockroom.pricing.store.quotes import QuoteStore


class PriceSource(Protocol):
    """Where quotes read prices and price lists: the per-process cache (or the stores)."""

    async def versions(
        self, skus: Sequence[str], currency_code: str
    ) -> dict[str, list[PriceVersion]]: ...

    async def price_lists(self, currency_code: str) -> dict[str, PriceList]: ...


class PromotionSource(Protocol):
    """Where quotes read promotions, codes and usage: the store, or the cache."""

    async def for_cart(
        self, currency_code: str, skus: Sequence[str], moment: datetime
    ) -> list[Promotion]: ...

    async def codes(self, codes: Sequence[str]) -> dict[str, tuple[DiscountCode, Promotion]]: ...

    async def customer_usage(
        self, customer_id: str, promotion_ids: Sequence[str]
    ) -> dict[str, Usage]: ...

    async def usage(self, promotion_ids: Sequence[str]) -> dict[str, Usage]: ...


class StockHolder(Protocol):
    """Reserves a cart's stock for a quote; answers with a reason rather than failing."""

    async def hold(
        self,
        lines: Sequence[CartLine],
        ttl: timedelta,
        request_id: str,
        reference: str,
        expire_at: datetime,
    ) -> StockHold: ...


class StockChecker(Protocol):
    """Asks whether a cart's lines can be served; answers UNKNOWN rather than failing."""

    async def check(self, lines: Sequence[CartLine]) -> StockCheck: ...


class Quoter:
    def __init__(
        self,
        prices: PriceSource,
        promotions: PromotionSource,
        quotes: QuoteStore,
        stock: StockChecker,
        clock: Clock,
        quote_ttl: timedelta,
        rules: CurrencyRules = DEFAULT_RULES,
        holder: StockHolder | None = None,
    ) -> None:
        self._rules = rules
        self._holder = holder
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
        now = self._clock()
        pending_prices = [
            pending_version(i, price, now, problems) for i, price in enumerate(cart.pending_prices)
        ]
        pending_promotions = [
            pending_promotion(i, terms, now, problems)
            for i, terms in enumerate(cart.pending_promotions)
        ]
        raise_if_any(problems)
        if key is not None and not cart.dry_run:
            earlier = await self._quotes.made_for(key)
            if earlier is not None:
                return earlier
        price_time = cart.price_time or now
        currency_code = cart.scope.currency_code
        skus = [line.sku for line in cart.lines]
        quote_id = "" if cart.dry_run else str(uuid.uuid4())
        expire_at = now + self._quote_ttl
        stock_check = asyncio.create_task(self._stock.check(cart.lines))
        holding = asyncio.create_task(
            self._hold(cart, key.request_id if key else quote_id, quote_id, expire_at)
        )
        try:
            view, versions = await self._candidates(cart, pending_prices, now)
            chosen = {
                line.sku: choose(versions[line.sku], view, cart.scope, price_time, line.quantity)
                for line in cart.lines
            }
            prices = {sku: version for sku, version in chosen.items() if version is not None}
            _require_prices(cart, prices, price_time)
            promotions = await self._promotions.for_cart(currency_code, skus, price_time)
            promotions += for_cart(pending_promotions, currency_code, skus, price_time)
            selection = await self._select(cart, promotions, price_time)
            priced = price_cart(
                cart.lines,
                prices,
                selection.promotions,
                currency_code,
                self._rules,
                selection.offers,
            )
            stock = await stock_check
            hold = await holding
        except BaseException:
            stock_check.cancel()
            holding.cancel()
            await asyncio.gather(stock_check, holding, return_exceptions=True)
            raise
        explanations: tuple[LineExplanation, ...] = ()
        if cart.explain:
            explanations = tuple(
                LineExplanation(
                    explain_price(versions[line.sku], view, cart.scope, price_time, line.quantity),
                    explain_tiers(line),
                    explain_promotions(
                        line, promotions, selection.promotions, selection.allowances, priced
                    ),
                )
                for line in priced.lines
            )
        quote = Quote(
            quote_id=quote_id,
            scope=cart.scope,
            price_time=price_time,
            created_at=now,
            expire_at=expire_at,
            priced=priced,
            stock=stock,
            customer_id=cart.customer_id,
            codes=answer_codes(cart.discount_codes, selection, priced),
            explanations=explanations,
            dry_run=cart.dry_run,
            hold=hold,
        )
        if cart.dry_run:
            return quote
        saved = await self._quotes.save(quote, key)
        return replace(saved, explanations=explanations) if saved is quote else saved

    async def _candidates(
        self, cart: Cart, pending: Sequence[PriceVersion], now: datetime
    ) -> tuple[ListView, dict[str, list[PriceVersion]]]:
        """The cart's currency's lists (with a dry run's drafts tried as active) and each
        SKU's candidates: recorded versions, a dry run's pending ones placed in their
        lists, and relative lists' derived ones."""
        currency_code = cart.scope.currency_code
        skus = [line.sku for line in cart.lines]
        lists = await self._prices.price_lists(currency_code)
        recorded = await self._prices.versions(skus, currency_code)
        ours = [v for v in pending if v.sku in recorded and v.scope.currency_code == currency_code]
        placed, lists = place_pending(ours, lists, now)
        view = ListView(
            lists, frozenset(check_trial(lists.get(i), i).list_id for i in cart.draft_list_ids)
        )
        mode = self._rules.mode(currency_code)
        return view, {
            sku: candidates([*versions, *(v for v in placed if v.sku == sku)], lists, mode)
            for sku, versions in recorded.items()
        }

    async def _hold(
        self,
        cart: Cart,
        request_id: str,
        quote_id: str,
        expire_at: datetime,
    ) -> StockHold | None:
        """The cart's stock held until the quote expires, when the cart asks for it."""
        if not cart.reserve:
            return None
        if self._holder is None:
            return StockHold("", None, "NOT_CONFIGURED", "this pricing server holds no stock")
        return await self._holder.hold(cart.lines, self._quote_ttl, request_id, quote_id, expire_at)

    async def _select(self, cart: Cart, promotions: list[Promotion], moment: datetime) -> Selection:
        """The promotions that may discount the cart: reads codes and the customer's
        usage only when the quote has codes or a promotion has per-customer limits."""
        limited = [p.promotion_id for p in promotions if p.terms.limits != PromotionLimits()]
        if limited:  # counts change with every redemption: read them now, never cached
            used = await self._promotions.usage(limited)
            promotions = [replace(p, usage=used.get(p.promotion_id, p.usage)) for p in promotions]
        found = await self._promotions.codes(cart.discount_codes)
        per_customer = [p.promotion_id for p in promotions if p.terms.limits.per_customer]
        usage = await self._promotions.customer_usage(cart.customer_id, per_customer)
        return select_offers(
            promotions, cart.discount_codes, found, usage, cart.customer_id, moment
        )

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
