"""Use cases for prices: record a price version, ask for the price at a moment, list history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from stockroom.common.db import Clock, RequestKey
from stockroom.common.errors import NotFound, ResourceRef
from stockroom.pricing.domain.explain import PriceExplanation, explain_price
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.domain.prices import (
    NewPrice,
    PriceListScope,
    PriceVersion,
    effective_window,
    validate_scope,
)
from stockroom.pricing.domain.tiers import validate_schedule
from stockroom.pricing.domain.validation import (
    check_currency,
    check_request_id,
    check_sku,
    new_problems,
    raise_if_any,
)
from stockroom.pricing.store.prices import PriceStore


def nothing() -> None:
    return None


class PriceBook:
    def __init__(
        self, store: PriceStore, clock: Clock, on_change: Callable[[], None] = nothing
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_change = on_change

    async def set_price(self, price: NewPrice, key: RequestKey | None = None) -> PriceVersion:
        """Record ``price`` as a new version; a retry with the same request id records once."""
        now = self._clock()
        problems = new_problems()
        check_request_id(problems, key.request_id if key else "")
        check_sku(problems, "sku", price.sku)
        validate_scope(problems, price.scope)
        validate_schedule(problems, price.schedule, "tiers")
        window = effective_window(price, now, problems)
        raise_if_any(problems)
        version = await self._store.record(
            price.sku,
            price.scope,
            price.schedule,
            window,
            now,
            key,
            price.tax_inclusive,
        )
        self._on_change()  # after the write: the next quote here sees it
        return version

    async def price_at(
        self, sku: str, scope: PriceListScope, moment: datetime | None
    ) -> PriceVersion:
        """The version in effect at ``moment`` (default now), from the most specific list."""
        problems = new_problems()
        check_sku(problems, "sku", sku)
        validate_scope(problems, scope)
        raise_if_any(problems)
        at = moment or self._clock()
        version = (await self._store.in_effect([sku], scope, at)).get(sku)
        if version is None:
            raise NotFound(
                f"no {scope.currency_code} price for {sku} at {at.isoformat()}",
                reason="PRICE_NOT_FOUND",
                domain=DOMAIN,
                resource=ResourceRef("price", f"{sku}/{scope.currency_code}"),
            )
        return version

    async def explain(
        self, sku: str, scope: PriceListScope, moment: datetime | None
    ) -> tuple[PriceVersion, PriceExplanation]:
        """``price_at`` with why: every version of the SKU in the currency, labelled."""
        version = await self.price_at(sku, scope, moment)
        at = moment or self._clock()
        versions = (await self._store.versions([sku], scope.currency_code))[sku]
        return version, explain_price(versions, scope, at)

    async def in_list(self, scope: PriceListScope, after_id: int, limit: int) -> list[PriceVersion]:
        problems = new_problems()
        validate_scope(problems, scope)
        raise_if_any(problems)
        return await self._store.in_list(scope, after_id, limit)

    async def history(
        self, sku: str, currency_code: str, after_id: int, limit: int
    ) -> list[PriceVersion]:
        problems = new_problems()
        check_sku(problems, "sku", sku)
        if currency_code:
            check_currency(problems, "currency_code", currency_code)
        raise_if_any(problems)
        return await self._store.history(sku, currency_code, after_id, limit)
