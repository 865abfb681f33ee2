"""Change events reach NATS JetStream from the change log, survive a broker outage, and
are never duplicated in the stream (the log position is the message id)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
from nats.errors import Error as NatsError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.db import create_engine, migrate
from stockroom.pricing.app import MIGRATIONS
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.promotions import PromotionTarget, PromotionTerms
from stockroom.pricing.domain.tiers import PriceSchedule
from stockroom.pricing.publisher import ChangePublisher, EventSettings
from stockroom.pricing.store.prices import PriceStore
from stockroom.pricing.store.promotions import PromotionStore
from stockroom.pricing.tables import change_cursors

NATS_URL = os.environ.get("STOCKROOM_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(MIGRATIONS, database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def settings() -> EventSettings:
    """A stream and subjects of this test's own: other tests share the broker."""
    name = uuid.uuid4().hex[:12]
    return EventSettings(
        nats_url=NATS_URL, stream=f"PRICING_TEST_{name}", subject=f"test.{name}.pricing"
    )


async def stream_messages(settings: EventSettings) -> list[tuple[str, dict[str, object]]]:
    client = await nats.connect(settings.nats_url, connect_timeout=5)
    try:
        js = client.jetstream()
        info = await js.stream_info(settings.stream)
        found = []
        for sequence in range(1, info.state.messages + 1):
            message = await js.get_msg(settings.stream, sequence)
            found.append((message.subject or "", json.loads(message.data or b"{}")))
        return found
    finally:
        await client.close()


async def delete_stream(settings: EventSettings) -> None:
    client = await nats.connect(settings.nats_url, connect_timeout=5)
    try:
        await client.jetstream().delete_stream(settings.stream)
    finally:
        await client.close()


async def test_events_wait_out_a_broker_outage_and_are_published_once(
    engine: AsyncEngine, settings: EventSettings, unused_tcp_port: int
) -> None:
    now = datetime.now(UTC)
    await PriceStore(engine).record(
        "MUG", PriceListScope("USD"), PriceSchedule.per_unit(1250), (now, None), now
    )
    terms = PromotionTerms("Mugs", "USD", PromotionTarget.SKUS, frozenset({"MUG"}), 1000, None)
    sale = await PromotionStore(engine).create(terms, now, now)
    await PriceStore(engine).record(
        "TEE", PriceListScope("EUR"), PriceSchedule.per_unit(900), (now, None), now
    )

    # The broker is away: nothing is published and the cursor stays.
    away = ChangePublisher(
        engine,
        EventSettings(
            nats_url=f"nats://127.0.0.1:{unused_tcp_port}",
            stream=settings.stream,
            subject=settings.subject,
            timeout_s=1.0,
        ),
    )
    with pytest.raises((NatsError, OSError, TimeoutError)):
        await away.publish_pending()
    await away.close()

    # The broker is back: everything goes out, in order, once.
    back = ChangePublisher(engine, settings)
    try:
        assert await back.publish_pending() == 3
        assert await back.publish_pending() == 0
        # A publisher that died before moving its cursor publishes again: deduplicated.
        async with engine.begin() as connection:
            await connection.execute(update(change_cursors).values(position=0))
        assert await back.publish_pending() == 3
        messages = await stream_messages(settings)
    finally:
        await back.close()
        await delete_stream(settings)

    assert [(subject.rsplit(".", 1)[1], body["position"]) for subject, body in messages] == [
        ("price", 1),
        ("promotion", 2),
        ("price", 3),
    ]
    assert messages[0][1]["sku"] == "MUG"
    assert messages[1][1]["promotion_id"] == sale.promotion_id
    assert messages[2][1]["currency_code"] == "EUR"
