"""Use cases for prices: record a price version, ask for the price at a moment, list history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from stockroom.common.contract import check_quantity
from stockroom.common.db import Clock, RequestKey
from stockroom.common.errors import NotFound, ResourceRef
from stockroom.pricing.domain.explain import PriceExplanation, explain_price
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.domain.price_choice import ListView, candidates, choose
from stockroom.pricing.domain.price_lists import (
    derived,
    is_list_id,
    list_not_found,
)
from stockroom.pricing.domain.prices import (
    NewPrice,
    PriceListScope,
    PriceVersion,
    check_list_or_scope,
    effective_window,
    validate_scope,
)
from stockroom.pricing.domain.rounding import CurrencyRules
from stockroom.pricing.domain.tiers import validate_schedule
from stockroom.pricing.domain.validation import (
    check_currency,
    check_request_id,
    check_sku,
    new_problems,
    raise_if_any,
)
from stockroom.pricing.store.price_lists import PriceListStore
from stockroom.pricing.store.prices import PriceStore


def nothing() -> None:
    return None


class PriceBook:
    def __init__(
        self,
        store: PriceStore,
        lists: PriceListStore,
        clock: Clock,
        rules: CurrencyRules,
        on_change: Callable[[], None] = nothing,
    ) -> None:
        self._store = store
        self._lists = lists
        self._clock = clock
        self._rules = rules
        self._on_change = on_change

    async def set_price(self, price: NewPrice, key: RequestKey | None = None) -> PriceVersion:
        """Record ``price`` as a new version; a retry with the same request id records once."""
        now = self._clock()
        problems = new_problems()
        check_request_id(problems, key.request_id if key else "")
        check_sku(problems, "sku", price.sku)
        validate_scope(problems, price.scope)
        check_list_or_scope(problems, price)
        if price.list_id and not is_list_id(price.list_id):
            problems.add("price_list_id", "is not a price list id", "MALFORMED")
        validate_schedule(problems, price.schedule, "tiers")
        window = effective_window(price, now, problems)
        raise_if_any(problems)
        version = await self._store.record(price, window, now, key)
        self._on_change()  # after the write: the next quote here sees it
        return version

    async def price_at(
        self, sku: str, scope: PriceListScope, moment: datetime | None, quantity: int = 1
    ) -> PriceVersion:
        """The version that prices ``quantity`` units at ``moment`` (default now), by the
        precedence of ``domain.price_choice``."""
        return (await self._decide(sku, scope, moment, quantity, explain=False))[0]

    async def explain(
        self, sku: str, scope: PriceListScope, moment: datetime | None, quantity: int = 1
    ) -> tuple[PriceVersion, PriceExplanation]:
        """``price_at`` with why: every candidate of the SKU in the currency, labelled."""
        version, explanation = await self._decide(sku, scope, moment, quantity, explain=True)
        assert explanation is not None
        return version, explanation

    async def _decide(
        self,
        sku: str,
        scope: PriceListScope,
        moment: datetime | None,
        quantity: int,
        *,
        explain: bool,
    ) -> tuple[PriceVersion, PriceExplanation | None]:
        problems = new_problems()
        check_sku(problems, "sku", sku)
        validate_scope(problems, scope)
        check_quantity(problems, "quantity", quantity)
        raise_if_any(problems)
        at = moment or self._clock()
        currency_code = scope.currency_code
        lists = await self._lists.of_currency(currency_code)
        recorded = (await self._store.versions([sku], currency_code))[sku]
        versions = candidates(recorded, lists, self._rules.mode(currency_code))
        view = ListView(lists)
        version = choose(versions, view, scope, at, quantity)
        if version is None:
            raise NotFound(
                f"no {currency_code} price for {sku} at {at.isoformat()}",
                reason="PRICE_NOT_FOUND",
                domain=DOMAIN,
                resource=ResourceRef("price", f"{sku}/{currency_code}"),
            )
        explanation = explain_price(versions, view, scope, at, quantity) if explain else None
        return version, explanation

    async def in_list(
        self, list_id: str, scope: PriceListScope, after_id: int, limit: int
    ) -> list[PriceVersion]:
        """The versions of one list, by id or (without one) the scope's active OVERRIDE
        list; a relative list's are its base's, adjusted."""
        problems = new_problems()
        if list_id:
            if scope != PriceListScope(""):
                problems.add(
                    "price_list_id",
                    "give a price list or a scope (currency_code, ...), not both",
                    "SCOPE_WITH_LIST",
                )
            if not is_list_id(list_id):
                problems.add("price_list_id", "is not a price list id", "MALFORMED")
        else:
            validate_scope(problems, scope)
        raise_if_any(problems)
        if not list_id:
            current = await self._lists.active_override(scope)
            if current is None:
                return []
            list_id = current.list_id
        price_list = await self._lists.get(int(list_id))
        if price_list is None:
            raise list_not_found(list_id)
        relative = price_list.relative
        if relative is None:
            return await self._store.in_list(list_id, after_id, limit)
        mode = self._rules.mode(price_list.scope.currency_code)
        base = await self._store.in_list(relative.base_list_id, after_id, limit)
        return [derived(version, price_list, mode) for version in base]

    async def history(
        self, sku: str, currency_code: str, after_id: int, limit: int
    ) -> list[PriceVersion]:
        problems = new_problems()
        check_sku(problems, "sku", sku)
        if currency_code:
            check_currency(problems, "currency_code", currency_code)
        raise_if_any(problems)
        return await self._store.history(sku, currency_code, after_id, limit)
