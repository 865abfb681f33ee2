"""Pricing's change events go through the common outbox, relay and envelope (as inventory's):
every price, promotion version and price list status, once, with ids that name the change.
With publishing off the outbox is still written (the caches read it) but never published,
and the sweeper prunes it after PRICING_EVENTS_KEEP_PUBLISHED_S (pending rows never: the
common retention's rule, tested in libs/common)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select

from stockroom.common.client import connect
from stockroom.common.db import create_engine, migrate
from stockroom.common.events import EventsConfig, unpack
from stockroom.common.events.testing import events_config, stream_envelopes
from stockroom.common.server import ServerConfig
from stockroom.common.testing import PATIENT_POLICY, ManualClock, eventually, free_port, serving
from stockroom.pricing import app
from stockroom.pricing.tables import outbox
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

from .test_api import usd

__all__ = ["events_config"]  # the fixture, for the tests here


@asynccontextmanager
async def running_pricing(
    database_url: str, clock: ManualClock, **settings: object
) -> AsyncIterator[pb_grpc.PricingServiceAsyncStub]:
    """A pricing server on ``clock`` (its inventory is nowhere: no quote here needs one)."""
    await migrate(app.MIGRATIONS, database_url)
    server = ServerConfig(service_name="pricing", port=0, database_url=database_url)
    config = app.PricingSettings(server, f"127.0.0.1:{free_port()}", **settings)  # type: ignore[arg-type]
    async with (
        serving(app.build_server(config, clock=clock)) as address,
        connect(address, PATIENT_POLICY) as channel,
    ):
        yield pb_grpc.PricingServiceStub(channel)


async def outbox_rows(database_url: str) -> list[tuple[str, bool]]:
    """(event type, published or settled) of every outbox row, in position order."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(outbox.c.event_type, outbox.c.publish_time).order_by(outbox.c.position)
            )
            return [(row.event_type, row.publish_time is not None) for row in rows]
    finally:
        await engine.dispose()


async def test_prices_promotions_and_price_lists_are_published_once_in_the_common_envelope(
    database_url: str, events_config: EventsConfig
) -> None:
    config = dataclasses.replace(events_config, service="pricing")
    clock = ManualClock()
    async with running_pricing(database_url, clock, events=config) as pricing:
        price = (await pricing.SetPrice(pb.SetPriceRequest(sku="MUG.1", unit_price=usd(10)))).price
        promotion = (
            await pricing.CreatePromotion(
                pb.CreatePromotionRequest(
                    promotion=pb.Promotion(
                        display_name="Mugs",
                        currency_code="USD",
                        target=pb.PROMOTION_TARGET_SKUS,
                        skus=["MUG.1"],
                        basis_points_off=1000,
                    )
                )
            )
        ).promotion
        await pricing.PausePromotion(pb.PausePromotionRequest(promotion_id=promotion.promotion_id))
        sale = (
            await pricing.CreatePriceList(
                pb.CreatePriceListRequest(
                    request_id=str(uuid.uuid4()),
                    price_list=pb.PriceList(
                        display_name="Sale",
                        currency_code="USD",
                        kind=pb.PRICE_LIST_KIND_SALE,
                        base_price_list_id=price.price_list_id,
                        adjustment_basis_points=-1000,
                    ),
                )
            )
        ).price_list
        await pricing.UpdatePriceListStatus(
            pb.UpdatePriceListStatusRequest(
                price_list_id=sale.price_list_id, status=pb.PRICE_LIST_STATUS_ACTIVE
            )
        )

        async def all_published() -> bool:
            return len(await stream_envelopes(config)) >= 6

        await eventually(all_published)
    in_stream = await stream_envelopes(config)
    # Subjects are published concurrently: the envelope's sequence is the commit order.
    published = sorted(in_stream, key=lambda e: e.sequence)
    pid, everyone, sale_id = promotion.promotion_id, price.price_list_id, sale.price_list_id
    every_list, sale_list = f"priceLists/{everyone}", f"priceLists/{sale_id}"
    assert [(e.type, e.id, e.subject) for e in published] == [
        ("stockroom.pricing.v1.price_list_changed", f"price-list-{everyone}-active", every_list),
        ("stockroom.pricing.v1.price_recorded", f"price-{price.price_id}", "MUG.1"),
        ("stockroom.pricing.v1.promotion_changed", f"promotion-{pid}-v1", f"promotions/{pid}"),
        ("stockroom.pricing.v1.promotion_changed", f"promotion-{pid}-v2", f"promotions/{pid}"),
        ("stockroom.pricing.v1.price_list_changed", f"price-list-{sale_id}-draft", sale_list),
        ("stockroom.pricing.v1.price_list_changed", f"price-list-{sale_id}-active", sale_list),
    ]
    assert {e.source for e in published} == {"/stockroom/pricing"}
    assert len({e.id for e in in_stream}) == len(in_stream)  # each once
    promotion_versions = [e.id for e in in_stream if e.subject == f"promotions/{pid}"]
    assert promotion_versions == [f"promotion-{pid}-v1", f"promotion-{pid}-v2"]  # in order
    assert unpack(published[1], pb.Price) == price
    assert unpack(published[3], pb.Promotion).state == pb.PROMOTION_STATE_PAUSED
    activated = unpack(published[5], pb.PriceList)
    assert (activated.status, activated.adjustment_basis_points) == (
        pb.PRICE_LIST_STATUS_ACTIVE,
        -1000,
    )
    assert await outbox_rows(database_url) == [(e.type, True) for e in published]


async def test_with_publishing_off_the_outbox_is_written_settled(sqlite_url: str) -> None:
    async with running_pricing(sqlite_url, ManualClock()) as pricing:
        await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10)))

    # Rows for the caches, already settled: a relay turned on later does not publish them.
    assert await outbox_rows(sqlite_url) == [
        ("stockroom.pricing.v1.price_list_changed", True),
        ("stockroom.pricing.v1.price_recorded", True),
    ]


async def count_rows(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(outbox)) or 0)
    finally:
        await engine.dispose()


async def test_the_sweeper_prunes_rows_older_than_the_configured_age(
    database_url: str,
) -> None:
    clock = ManualClock()
    keep = EventsConfig("pricing", keep_published_s=3600)
    async with running_pricing(
        database_url, clock, events=keep, retention_interval_s=0.02
    ) as pricing:
        await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10)))
        clock.advance(3000)
        await pricing.SetPrice(pb.SetPriceRequest(sku="TEE", unit_price=usd(5)))
        clock.advance(601)  # the first two rows are now older than an hour, the others not

        async def old_rows_gone() -> bool:
            return await count_rows(database_url) == 1

        await eventually(old_rows_gone)
        kept = await outbox_rows(database_url)
        clock.advance(3000)

        async def all_gone() -> bool:
            return await count_rows(database_url) == 0

        await eventually(all_gone)
    assert kept == [("stockroom.pricing.v1.price_recorded", True)]
