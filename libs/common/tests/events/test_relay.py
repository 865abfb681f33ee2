"""The relay against the real NATS JetStream: order, at-least-once, dedupe, wake-ups, outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import event as sa_event
from sqlalchemy import update

from stockroom.common.db import create_engine
from stockroom.common.events import EventsConfig, unpack
from stockroom.common.events.relay import Relay, ensure_stream
from stockroom.common.events.testing import nats_client, stream_envelopes
from stockroom.common.testing import FaultProxy, eventually
from stockroom.events.v1.envelope_pb2 import Envelope

from ..conftest import SpanRecorder
from .conftest import append_events, create_schema, outbox

KEYS = ["k1", "k2", "k.3"]


def payloads_by_key(envelopes: list[Envelope]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for e in envelopes:
        found.setdefault(e.subject, []).append(unpack(e, StringValue).value)
    return found


def expected_by_key(payloads: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in payloads:
        found.setdefault(p.split(":")[0], []).append(p)
    return found


async def test_publishes_every_event_once_in_order_per_subject(
    database_url: str, events_config: EventsConfig
) -> None:
    engine = create_engine(database_url)
    await create_schema(engine)
    config = EventsConfig(**{**events_config.__dict__, "batch_size": 7})
    payloads = await append_events(engine, config, KEYS, per_key=10)
    relay = Relay(engine, outbox, config)
    published = 0
    for _ in range(10):  # 30 rows, 7 per round
        published += await relay.publish_pending()
    assert published == 30
    assert await relay.pending() == 0
    assert await relay.publish_pending() == 0

    envelopes = await stream_envelopes(config)
    assert len(envelopes) == 30
    assert payloads_by_key(envelopes) == expected_by_key(payloads)
    assert len({e.id for e in envelopes}) == 30
    assert [e.sequence for e in envelopes] == sorted(e.sequence for e in envelopes)
    first = envelopes[0]
    assert (first.source, first.type) == ("/stockroom/test", "stockroom.test.v1.thing_changed")
    async with nats_client() as client:
        message = await client.jetstream().get_msg(config.stream_name, seq=1)
    assert message.headers is not None
    assert message.headers["Nats-Msg-Id"] == first.id
    assert message.subject == config.subject("thing", "k1")
    await relay.stop()
    await engine.dispose()


async def test_a_second_publication_is_dropped_by_jetstream(
    database_url: str, events_config: EventsConfig, span_recorder: SpanRecorder
) -> None:
    """A crash between the acknowledgement and the mark republishes: the stream keeps one."""
    engine = create_engine(database_url)
    await create_schema(engine)
    await append_events(engine, events_config, KEYS, per_key=4)
    relay = Relay(engine, outbox, events_config, telemetry=span_recorder.telemetry)
    assert await relay.publish_pending() == 12
    async with engine.begin() as connection:  # as if the marks had never committed
        await connection.execute(update(outbox).values(publish_time=None))
    assert await relay.publish_pending() == 12
    assert relay.duplicates_total == 12
    stream = {"stream": events_config.stream_name}
    assert span_recorder.value("stockroom.events.published", **stream) == 24
    assert span_recorder.value("stockroom.events.duplicates", **stream) == 12
    assert span_recorder.value("stockroom.events.broker_unreachable", **stream) == 0
    envelopes = await stream_envelopes(events_config)
    assert len(envelopes) == 12
    assert len({e.id for e in envelopes}) == 12
    await relay.stop()
    await engine.dispose()


async def test_a_commit_wakes_the_relay_and_idle_relays_do_nothing(
    sqlite_url: str, events_config: EventsConfig
) -> None:
    engine = create_engine(sqlite_url)
    await create_schema(engine)
    # A poll this long never fires during the test: only the commit hook can wake it.
    config = EventsConfig(**{**events_config.__dict__, "poll_interval_s": 3600.0})
    async with Relay(engine, outbox, config) as relay:
        await eventually(lambda: relay.rounds_total >= 1)
        await asyncio.sleep(0.2)
        assert relay.rounds_total == 1  # nothing pending: no second round, no busy loop
        await append_events(engine, config, ["a"], per_key=3, per_commit=3)
        await eventually(lambda: _pending_is(relay, 0))
        assert relay.published_total == 3
    await engine.dispose()


async def _pending_is(relay: Relay, count: int) -> bool:
    return await relay.pending() == count


async def test_publication_survives_a_broker_outage(
    database_url: str,
    events_config: EventsConfig,
    caplog: pytest.LogCaptureFixture,
    span_recorder: SpanRecorder,
) -> None:
    engine = create_engine(database_url)
    await create_schema(engine)
    upstream = events_config.url.removeprefix("nats://")
    async with FaultProxy(upstream, server_speaks_first=True) as proxy:
        config = EventsConfig(
            **{
                **events_config.__dict__,
                "url": f"nats://{proxy.address}",
                "retry_initial_s": 0.02,
                "retry_max_s": 0.2,
                "poll_interval_s": 3600.0,
            }
        )
        caplog.set_level(logging.INFO, logger="stockroom.common.events._relay")
        unreachable = {"stream": config.stream_name}
        async with Relay(engine, outbox, config, telemetry=span_recorder.telemetry) as relay:
            await append_events(engine, config, KEYS, per_key=2)
            await eventually(lambda: _pending_is(relay, 0))
            proxy.cut()  # the broker goes away with the relay connected
            payloads = await append_events(engine, config, KEYS, per_key=5)
            await eventually(lambda: relay.broker.failures >= 3)
            assert await relay.pending() > 0
            assert span_recorder.value("stockroom.events.broker_unreachable", **unreachable) == 1
            proxy.restore()
            await eventually(lambda: _pending_is(relay, 0))
            await eventually(lambda: not relay.broker.active)
            assert span_recorder.value("stockroom.events.broker_unreachable", **unreachable) == 0
    envelopes = await stream_envelopes(events_config)
    assert len(envelopes) == 6 + 15
    assert len({e.id for e in envelopes}) == 21
    assert sorted(unpack(e, StringValue).value for e in envelopes[6:]) == sorted(payloads)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    ended = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert [r.getMessage() for r in warnings] == [
        "event broker unreachable: events wait in the outbox until it is back"
    ]
    assert len(ended) == 1
    await engine.dispose()


async def test_a_relay_started_without_a_broker_publishes_once_it_appears(
    sqlite_url: str, events_config: EventsConfig
) -> None:
    engine = create_engine(sqlite_url)
    await create_schema(engine)
    upstream = events_config.url.removeprefix("nats://")
    async with FaultProxy(upstream, server_speaks_first=True) as proxy:
        proxy.cut()
        config = EventsConfig(
            **{
                **events_config.__dict__,
                "url": f"nats://{proxy.address}",
                "retry_initial_s": 0.02,
                "retry_max_s": 0.1,
            }
        )
        async with Relay(engine, outbox, config) as relay:
            await append_events(engine, config, ["a"], per_key=3)
            await eventually(lambda: relay.broker.failures >= 2)
            proxy.restore()
            await eventually(lambda: _pending_is(relay, 0))
    assert len(await stream_envelopes(events_config)) == 3
    await engine.dispose()


class GatedRelay(Relay):
    """A relay whose publication waits for the test: something happens mid-round."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publishing = asyncio.Event()
        self.gate = asyncio.Event()

    async def _publish(self, js: Any, rows: Sequence[Any], acked: list[int]) -> Any:
        self.publishing.set()
        await self.gate.wait()
        return await super()._publish(js, rows, acked)


async def test_writes_committed_during_a_round_do_not_fail_it(
    sqlite_url: str, events_config: EventsConfig
) -> None:
    """SQLite with real transactions (BEGIN on the first statement, as services configure
    it): a writer committing while the relay publishes must not break the round."""
    engine = create_engine(sqlite_url)

    @sa_event.listens_for(engine.sync_engine, "connect")
    def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa_event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    await create_schema(engine)
    await append_events(engine, events_config, ["a"], per_key=2)
    relay = GatedRelay(engine, outbox, events_config)
    round_ = asyncio.create_task(relay.publish_pending())
    await asyncio.wait_for(relay.publishing.wait(), 30)
    await append_events(engine, events_config, ["b"], per_key=1)  # a write commits meanwhile
    relay.gate.set()
    assert await round_ == 2
    assert await relay.publish_pending() == 1
    assert await relay.pending() == 0
    await relay.stop()
    await engine.dispose()


@pytest.mark.postgres
async def test_replicas_take_turns_and_keep_the_order(
    postgres_url: str, events_config: EventsConfig
) -> None:
    engine = create_engine(postgres_url)
    other = create_engine(postgres_url)  # another replica's pool
    await create_schema(engine)
    config = EventsConfig(**{**events_config.__dict__, "batch_size": 5})
    async with Relay(engine, outbox, config) as first, Relay(other, outbox, config) as second:
        payloads = await append_events(engine, config, KEYS, per_key=20, per_commit=3)
        await eventually(lambda: _pending_is(first, 0))
        assert first.published_total + second.published_total == 60
    envelopes = await stream_envelopes(config)
    assert len(envelopes) == 60
    assert payloads_by_key(envelopes) == expected_by_key(payloads)
    await engine.dispose()
    await other.dispose()


async def test_stream_creation_is_idempotent_and_follows_the_settings(
    events_config: EventsConfig,
) -> None:
    async with nats_client(events_config.url) as client:
        js = client.jetstream()
        await ensure_stream(js, events_config)
        await ensure_stream(js, events_config)
        info = await js.stream_info(events_config.stream_name)
        assert info.config.subjects == [f"{events_config.prefix}.>"]
        assert info.config.duplicate_window == events_config.duplicate_window_s
        changed = EventsConfig(**{**events_config.__dict__, "duplicate_window_s": 60.0})
        await ensure_stream(js, changed)
        info = await js.stream_info(events_config.stream_name)
        assert info.config.duplicate_window == 60.0
        assert info.config.max_age == events_config.max_age_s


def test_no_relay_when_publishing_is_off(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    with pytest.raises(ValueError, match="publishing is off"):
        Relay(engine, outbox, EventsConfig("test"))
