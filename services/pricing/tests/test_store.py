"""The store on SQLite and PostgreSQL: history kept, the in-effect rule in SQL, one row
per request id even under concurrent retries, quotes read back exactly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.db import RequestKey, create_engine, migrate
from stockroom.common.errors import InvalidArgument
from stockroom.common.testing import temporary_database
from stockroom.common.testing.pytest_plugin import require_postgres
from stockroom.pricing import app
from stockroom.pricing.domain.discounts import AppliedDiscount
from stockroom.pricing.domain.prices import NewPrice, PriceListScope, PriceVersion
from stockroom.pricing.domain.promotions import PromotionTarget, PromotionTerms
from stockroom.pricing.domain.quotes import CartLine, Quote, StockCheck, price_cart
from stockroom.pricing.domain.tiers import PriceSchedule, Tier, TiersMode
from stockroom.pricing.store.prices import PriceStore
from stockroom.pricing.store.quotes import QuoteStore
from stockroom.pricing.tables import prices, promotions, quotes

from . import catalog
from .catalog import price_store, prices_at, promotion_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USD = PriceListScope("USD")
REQUEST_ID = "0b5c1f0e-8a55-4f55-9d1e-6b8f6f2a9d11"


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(app.MIGRATIONS, database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def record(
    store: PriceStore,
    sku: str,
    unit_minor: int,
    valid_from: datetime,
    valid_until: datetime | None = None,
    scope: PriceListScope = USD,
) -> PriceVersion:
    return await catalog.record(
        store, sku, scope, PriceSchedule.per_unit(unit_minor), valid_from, valid_until
    )


def unit_price(versions: dict[str, PriceVersion], sku: str) -> int | None:
    version = versions.get(sku)
    return None if version is None else version.schedule.unit_amount_minor


async def test_later_versions_replace_and_windowed_versions_overlay(engine: AsyncEngine) -> None:
    store = price_store(engine)
    await record(store, "MUG", 1000, at(0))
    await record(store, "MUG", 800, at(10), at(20))  # a sale
    await record(store, "MUG", 1200, at(15))  # a price rise during the sale
    await record(store, "MUG", 700, at(30), at(31))

    async def price(days: float) -> int | None:
        return unit_price(await prices_at(store, ["MUG"], USD, at(days)), "MUG")

    assert await price(-1) is None
    assert await price(5) == 1000
    assert await price(10) == 800
    assert await price(15) == 1200  # later valid_from wins over the sale
    assert await price(25) == 1200
    assert await price(30) == 700
    assert await price(31) == 1200  # the window ends, the rise shows again


async def test_a_correction_with_the_same_valid_from_wins_and_history_keeps_both(
    engine: AsyncEngine,
) -> None:
    store = price_store(engine)
    first = await record(store, "MUG", 1000, at(1))
    second = await record(store, "MUG", 999, at(1))

    in_effect = await prices_at(store, ["MUG"], USD, at(2))
    history = await store.history("MUG", "USD", 0, 10)

    assert in_effect["MUG"].price_id == second.price_id
    assert [v.price_id for v in history] == [first.price_id, second.price_id]


async def test_the_most_specific_price_list_with_a_price_wins(engine: AsyncEngine) -> None:
    store = price_store(engine)
    await record(store, "MUG", 1000, at(0))
    await record(store, "TEE", 2000, at(0))
    await record(store, "MUG", 950, at(0), scope=PriceListScope("USD", channel="web"))
    await record(store, "MUG", 900, at(0), scope=PriceListScope("USD", customer_group="b2b"))
    await record(store, "TEE", 1900, at(0), scope=PriceListScope("USD", channel="web"))
    await record(store, "TEE", 5, at(0), scope=PriceListScope("EUR", channel="web"))

    web_b2b = await prices_at(store, ["MUG", "TEE"], PriceListScope("USD", "web", "b2b"), at(1))
    web = await prices_at(store, ["MUG", "TEE"], PriceListScope("USD", "web"), at(1))
    shop = await prices_at(store, ["MUG", "TEE"], PriceListScope("USD", "shop"), at(1))

    assert (unit_price(web_b2b, "MUG"), unit_price(web_b2b, "TEE")) == (900, 1900)
    assert (unit_price(web, "MUG"), unit_price(web, "TEE")) == (950, 1900)
    assert (unit_price(shop, "MUG"), unit_price(shop, "TEE")) == (1000, 2000)


async def test_tiers_survive_the_round_trip(engine: AsyncEngine) -> None:
    store = price_store(engine)
    schedule = PriceSchedule((Tier(10, 500, 100), Tier(None, 400)), TiersMode.GRADUATED)

    recorded = await catalog.record(store, "MUG", USD, schedule, at(0))
    found = await prices_at(store, ["MUG"], USD, at(1))

    assert found["MUG"] == recorded
    assert found["MUG"].schedule == schedule


async def test_history_pages_in_recording_order(engine: AsyncEngine) -> None:
    store = price_store(engine)
    for cents in range(5):
        await record(store, "MUG", cents, at(cents))

    first = await store.history("MUG", "", 0, 3)
    rest = await store.history("MUG", "", int(first[-1].price_id), 3)

    assert [v.schedule.unit_amount_minor for v in first + rest] == [0, 1, 2, 3, 4]


async def test_concurrent_retries_of_one_request_record_one_price(engine: AsyncEngine) -> None:
    store = price_store(engine)
    schedule = PriceSchedule.per_unit(1250)

    recorded = await asyncio.gather(
        *(
            store.record(
                NewPrice("MUG", USD, schedule),
                (at(0), None),
                at(0),
                RequestKey(REQUEST_ID, "SetPrice", "digest"),
            )
            for _ in range(8)
        )
    )

    async with engine.connect() as connection:
        rows = (await connection.execute(select(func.count()).select_from(prices))).scalar_one()
    assert rows == 1
    assert {v.price_id for v in recorded} == {recorded[0].price_id}


async def test_a_request_id_reused_for_another_request_is_refused(engine: AsyncEngine) -> None:
    store = price_store(engine)
    schedule = PriceSchedule.per_unit(1250)
    key = RequestKey(REQUEST_ID, "SetPrice", "digest")
    await store.record(NewPrice("MUG", USD, schedule), (at(0), None), at(0), key)

    with pytest.raises(InvalidArgument) as raised:
        await store.record(
            NewPrice("TEE", USD, schedule),
            (at(0), None),
            at(0),
            RequestKey(REQUEST_ID, "SetPrice", "other"),
        )

    assert raised.value.reason == "REQUEST_ID_REUSED"
    assert raised.value.field_violations[0].field == "request_id"


def promotion_terms(target: PromotionTarget, skus: frozenset[str], currency: str) -> PromotionTerms:
    return PromotionTerms("promo", currency, target, skus, 1000, None)


async def test_a_cart_sees_the_promotions_in_effect_for_its_currency_and_skus(
    engine: AsyncEngine,
) -> None:
    store = promotion_store(engine)
    mugs = await store.create(
        promotion_terms(PromotionTarget.SKUS, frozenset({"MUG", "BOWL"}), "USD"), at(0), at(0)
    )
    cart = await store.create(promotion_terms(PromotionTarget.CART, frozenset(), ""), at(0), at(0))
    await store.create(
        promotion_terms(PromotionTarget.SKUS, frozenset({"HAT"}), "USD"), at(0), at(0)
    )
    await store.create(promotion_terms(PromotionTarget.CART, frozenset(), "EUR"), at(0), at(0))
    later = promotion_terms(PromotionTarget.CART, frozenset(), "USD")
    await store.create(later, at(5), at(0))

    found = await store.for_cart("USD", ["MUG", "TEE"], at(1))

    assert [p.promotion_id for p in found] == [mugs.promotion_id, cart.promotion_id]
    assert found[0].terms.skus == {"MUG"}  # cut down to the cart's SKUs
    assert (await store.get(int(mugs.promotion_id))) == mugs


async def test_concurrent_retries_of_one_create_make_one_promotion(engine: AsyncEngine) -> None:
    store = promotion_store(engine)
    terms = promotion_terms(PromotionTarget.SKUS, frozenset({"MUG"}), "USD")

    created = await asyncio.gather(
        *(
            store.create(terms, at(0), at(0), RequestKey(REQUEST_ID, "SetPrice", "digest"))
            for _ in range(6)
        )
    )

    async with engine.connect() as connection:
        rows = (await connection.execute(select(func.count()).select_from(promotions))).scalar_one()
    assert rows == 1
    assert all(p == created[0] for p in created)
    assert created[0].terms.skus == {"MUG"}


def a_quote(quote_id: str, stock: StockCheck) -> Quote:
    version = PriceVersion("1", "MUG", USD, PriceSchedule.per_unit(1250), T0, None, T0)
    priced = price_cart([CartLine("MUG", 3)], {"MUG": version}, [], "USD")
    discount = AppliedDiscount("9", "Nine", PromotionTarget.CART, 100, "why")
    discounted = replace(
        priced,
        lines=tuple(replace(line, discounts=(discount,)) for line in priced.lines),
        cart_discounts=(discount,),
    )
    return Quote(quote_id, USD, T0, T0, at(1), discounted, stock)


async def test_a_quote_reads_back_exactly_as_it_was_kept(engine: AsyncEngine) -> None:
    store = QuoteStore(engine)
    kept = a_quote("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a00", StockCheck({"MUG": 2}))
    unknown = a_quote("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a01", StockCheck.unknown("X", "why"))

    await store.save(kept)
    await store.save(unknown)

    assert await store.get(kept.quote_id) == kept
    assert await store.get(unknown.quote_id) == unknown
    assert await store.get("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a02") is None


async def test_a_retried_quote_returns_the_first_one(engine: AsyncEngine) -> None:
    store = QuoteStore(engine)
    first = a_quote("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a00", StockCheck({"MUG": 2}))
    second = a_quote("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a01", StockCheck({"MUG": 9}))

    kept = await asyncio.gather(
        store.save(first, RequestKey(REQUEST_ID, "SetPrice", "digest")),
        store.save(second, RequestKey(REQUEST_ID, "SetPrice", "digest")),
    )

    assert kept[0] == kept[1]
    async with engine.connect() as connection:
        rows = (await connection.execute(select(func.count()).select_from(quotes))).scalar_one()
    assert rows == 1


async def test_saving_a_quote_again_keeps_one_row(engine: AsyncEngine) -> None:
    store = QuoteStore(engine)
    quote = a_quote("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a00", StockCheck({"MUG": 2}))

    first = await store.save(quote)
    repeated = await store.save(quote)  # what a save repeated after a lost connection does

    assert repeated == first == quote
    async with engine.connect() as connection:
        rows = (await connection.execute(select(func.count()).select_from(quotes))).scalar_one()
    assert rows == 1


def quote_with_discount(quote_id: str, amount_minor: int) -> Quote:
    quote = a_quote(quote_id, StockCheck({"MUG": 2}))
    discount = AppliedDiscount("9", "Nine", PromotionTarget.CART, amount_minor, "why")
    priced = replace(
        quote.priced,
        lines=tuple(replace(line, discounts=(discount,)) for line in quote.priced.lines),
    )
    return replace(quote, priced=priced)


async def quote_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        counted = await connection.execute(select(func.count()).select_from(quotes))
        return int(counted.scalar_one())


async def test_quotes_saved_together_each_get_their_own_outcome(engine: AsyncEngine) -> None:
    """Concurrent saves share batches (one INSERT each); a request id reused for another
    cart fails that caller alone, and a retry of the same request gets the first quote."""
    store = QuoteStore(engine)
    plain = [a_quote(f"5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a0{i}", StockCheck({})) for i in range(3)]
    keyed = a_quote("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a10", StockCheck({"MUG": 1}))
    retried = a_quote("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a11", StockCheck({"MUG": 1}))
    other_cart = a_quote("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a12", StockCheck({"MUG": 1}))

    outcomes = await asyncio.gather(
        store.save(keyed, RequestKey(REQUEST_ID, "Quote", "cart-a")),
        *(store.save(quote) for quote in plain),
        store.save(retried, RequestKey(REQUEST_ID, "Quote", "cart-a")),
        store.save(other_cart, RequestKey(REQUEST_ID, "Quote", "cart-b")),
        return_exceptions=True,
    )

    assert outcomes[:4] == [keyed, *plain]
    assert outcomes[4] == keyed  # the retry gets the first quote, not its own
    assert isinstance(outcomes[5], InvalidArgument)
    assert outcomes[5].reason == "REQUEST_ID_REUSED"
    assert await quote_rows(engine) == 4


async def test_a_quote_the_database_refuses_fails_alone(engine: AsyncEngine) -> None:
    """A row that breaks a constraint (here a discount larger than the cart) fails the
    batch's statement; the batch is then stored quote by quote, so the others are kept."""
    store = QuoteStore(engine)
    first = quote_with_discount("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a00", 100)
    refused = quote_with_discount("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a01", 10**6)
    good = [quote_with_discount(f"5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a1{i}", 100) for i in range(3)]

    outcomes = await asyncio.gather(
        store.save(first),
        store.save(refused),
        *(store.save(quote) for quote in good),
        return_exceptions=True,
    )

    assert outcomes[0] == first
    assert isinstance(outcomes[1], IntegrityError)
    assert outcomes[2:] == good
    assert await quote_rows(engine) == 4
    assert await store.get(refused.quote_id) is None


@pytest.mark.postgres
async def test_batches_of_every_size_are_one_statement_text() -> None:
    """On PostgreSQL the insert takes one array per column: a batch of one and a batch of
    five run the same statement (one prepared statement), and both keep every quote."""
    await require_postgres()
    async with temporary_database() as url:
        await migrate(app.MIGRATIONS, url)
        engine = create_engine(url)
        try:
            await _one_statement_text(engine)
        finally:
            await engine.dispose()


async def _one_statement_text(engine: AsyncEngine) -> None:
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO QUOTES"):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    store = QuoteStore(engine)
    alone = a_quote("5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a20", StockCheck({}))
    together = [
        a_quote(f"5f0a3c9e-1f4b-4b8e-9a51-0d7f3b2c1a3{i}", StockCheck({})) for i in range(5)
    ]

    assert await store.save(alone) == alone
    # The first save is on its way while the others gather: they go as one batch.
    assert await asyncio.gather(*(store.save(quote) for quote in together)) == together

    assert len(statements) >= 2
    assert len(set(statements)) == 1
    assert await quote_rows(engine) == 6
