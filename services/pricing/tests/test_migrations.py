"""The Alembic migrations build exactly the schema the store's queries are written against,
and carry the prices of before named price lists into named lists, so nothing changes for
callers (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import UtcDateTime, create_engine, migrate
from stockroom.common.testing import schema_drift
from stockroom.pricing.app import MIGRATIONS
from stockroom.pricing.domain.price_lists import ListKind, ListStatus
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.tiers import PriceSchedule
from stockroom.pricing.tables import metadata

from .catalog import list_store, price_store, prices_at, record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# The tables as revision 0004 left them (only the columns the rows below need).
OLD_LISTS = sa.table(
    "price_lists",
    sa.column("id", Id),
    sa.column("currency_code", sa.String),
    sa.column("channel", sa.String),
    sa.column("customer_group", sa.String),
    sa.column("country", sa.String),
)
OLD_PRICES = sa.table(
    "prices",
    sa.column("id", Id),
    sa.column("price_list_id", Id),
    sa.column("sku", sa.String),
    sa.column("tiers_mode", sa.String),
    sa.column("tiers", sa.JSON),
    sa.column("valid_from", UtcDateTime),
    sa.column("valid_until", UtcDateTime),
    sa.column("recorded_at", UtcDateTime),
    sa.column("tax_inclusive", sa.Boolean),
)


async def test_migrations_match_the_table_definitions(database_url: str) -> None:
    drift = await schema_drift(database_url, MIGRATIONS, metadata, "alembic_version_pricing")

    assert drift == []


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


async def old_prices(connection: AsyncConnection) -> None:
    """Implicit lists of before: one per scope, created by their first price."""
    await connection.execute(
        sa.insert(OLD_LISTS),
        [
            {"id": 1, "currency_code": "USD", "channel": "", "customer_group": "", "country": ""},
            {
                "id": 2,
                "currency_code": "USD",
                "channel": "web",
                "customer_group": "",
                "country": "",
            },
            {
                "id": 3,
                "currency_code": "CHF",
                "channel": "",
                "customer_group": "b2b",
                "country": "CH",
            },
        ],
    )
    unit = [{"up_to": None, "unit_amount_minor": 1000, "flat_amount_minor": 0}]
    rows = [
        (10, 1, "MUG", at(0), None),
        (11, 2, "MUG", at(2), None),
        (12, 1, "MUG", at(5), at(6)),  # a windowed price
        (13, 3, "MUG", at(3), None),
    ]
    await connection.execute(
        sa.insert(OLD_PRICES),
        [
            {
                "id": price_id,
                "price_list_id": list_id,
                "sku": sku,
                "tiers_mode": None,
                "tiers": [{**unit[0], "unit_amount_minor": 100 * price_id}],
                "valid_from": valid_from,
                "valid_until": valid_until,
                "recorded_at": valid_from,
                "tax_inclusive": False,
            }
            for price_id, list_id, sku, valid_from, valid_until in rows
        ],
    )


async def test_existing_prices_move_into_named_active_override_lists(database_url: str) -> None:
    await migrate(MIGRATIONS, database_url, revision="0004")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await old_prices(connection)
        await migrate(MIGRATIONS, database_url)

        lists = list_store(engine)
        named = {
            p.list_id: (p.terms.name, p.kind, p.status, p.activated_at)
            for p in [
                *(await lists.of_currency("USD")).values(),
                *(await lists.of_currency("CHF")).values(),
            ]
        }
        store = price_store(engine)
        web = PriceListScope("USD", channel="web")

        async def price_id(scope: PriceListScope, day: float) -> str | None:
            found = await prices_at(store, ["MUG"], scope, at(day))
            return found["MUG"].price_id if "MUG" in found else None

        answers = [
            await price_id(PriceListScope("USD"), 1),
            await price_id(web, 1),  # before the web price: falls back, as it always did
            await price_id(web, 3),
            await price_id(PriceListScope("USD"), 5.5),
            await price_id(PriceListScope("USD"), 7),
            await price_id(PriceListScope("CHF", customer_group="b2b", country="CH"), 4),
        ]
        # A caller who never names a list still records into its scope's list.
        later = await record(store, "TEE", web, PriceSchedule.per_unit(500), at(10))
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()

    active, override = ListStatus.ACTIVE, ListKind.OVERRIDE
    assert named == {
        "1": ("USD/*/*", override, active, at(0)),  # active since its first price
        "2": ("USD/web/*", override, active, at(2)),
        "3": ("CHF/*/b2b/CH", override, active, at(3)),
    }
    assert answers == ["10", "10", "11", "12", "10", "13"]
    assert later.list_id == "2"
    assert {"pricing_outbox", "change_head"} <= tables
    assert not {"changes", "change_cursors"} & tables
