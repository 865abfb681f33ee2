"""Stores wired as the service wires them (events written settled: publishing off), and the
precedence asked the way GetPrice asks it, for tests below the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.events import EventsConfig
from stockroom.pricing.domain.price_choice import ListView, candidates, choose
from stockroom.pricing.domain.prices import NewPrice, PriceListScope, PriceVersion
from stockroom.pricing.domain.rounding import CurrencyRules
from stockroom.pricing.domain.tiers import PriceSchedule
from stockroom.pricing.events import CatalogEvents
from stockroom.pricing.store.price_lists import PriceListStore
from stockroom.pricing.store.prices import PriceStore
from stockroom.pricing.store.promotions import PromotionStore

CHANGES = CatalogEvents(EventsConfig("pricing"))
DEFAULT_RULES = CurrencyRules()


def price_store(engine: AsyncEngine) -> PriceStore:
    return PriceStore(engine, CHANGES)


def list_store(engine: AsyncEngine) -> PriceListStore:
    return PriceListStore(engine, CHANGES)


def promotion_store(engine: AsyncEngine) -> PromotionStore:
    return PromotionStore(engine, CHANGES)


async def record(
    store: PriceStore,
    sku: str,
    scope: PriceListScope,
    schedule: PriceSchedule,
    valid_from: datetime,
    valid_until: datetime | None = None,
    *,
    recorded_at: datetime | None = None,
    list_id: str = "",
) -> PriceVersion:
    """Record a version as SetPrice does, at ``recorded_at`` (default ``valid_from``)."""
    price = NewPrice(sku, scope, schedule, list_id=list_id)
    return await store.record(price, (valid_from, valid_until), recorded_at or valid_from)


async def prices_at(
    store: PriceStore,
    skus: Sequence[str],
    scope: PriceListScope,
    moment: datetime,
    quantity: int = 1,
    rules: CurrencyRules = DEFAULT_RULES,
) -> dict[str, PriceVersion]:
    """The version that prices each SKU that has one, as GetPrice chooses it."""
    currency = scope.currency_code
    lists = await list_store(store.engine).of_currency(currency)
    view = ListView(lists)
    found = {}
    for sku, recorded in (await store.versions(skus, currency)).items():
        versions = candidates(recorded, lists, rules.mode(currency))
        chosen = choose(versions, view, scope, moment, quantity)
        if chosen is not None:
            found[sku] = chosen
    return found
