"""Inventory's events: every ledger entry and the thresholds it crosses (out of stock, back
in stock, below the reorder point), published to JetStream with the ledger position as the
id; a missing broker never stops a write; nothing is written when publishing is off; the
sweeper prunes old rows."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from stockroom.common.db import create_engine, migrate
from stockroom.common.events import EventsConfig, unpack
from stockroom.common.events.testing import events_config, stream_envelopes
from stockroom.common.server import ServerConfig
from stockroom.inventory.app import MIGRATIONS, InventorySettings
from stockroom.inventory.domain.model import Movement, MovementKind, StockKey, StockLevel
from stockroom.inventory.domain.thresholds import Threshold, crossings
from stockroom.inventory.service.retention import Retention
from stockroom.inventory.store.tables import outbox, request_records
from stockroom.inventory.testing import ManualClock, request_id, running_inventory
from stockroom.inventory.v1 import events_pb2
from stockroom.inventory.v1 import inventory_pb2 as pb

__all__ = ["events_config"]  # the fixture, for the tests here

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def entry(
    sequence: int, on_hand: int, reserved: int, safety: int = 0, reorder_point: int = 0
) -> Movement:
    return Movement(
        sequence=sequence,
        kind=MovementKind.ADJUSTMENT,
        on_hand_delta=0,
        reserved_delta=0,
        level=StockLevel(
            "SKU-1", "WH-1", on_hand, reserved, safety, sequence, reorder_point=reorder_point
        ),
        reason="",
        reference="",
        reservation_id="",
        request_id="",
        create_time=T0,
    )


def test_thresholds_follow_available_through_the_entries() -> None:
    entries = [
        entry(1, 5, 0),  # first stock: back in stock
        entry(2, 5, 3),  # still 2 available
        entry(3, 5, 5),  # out of stock
        entry(4, 5, 4),  # back
        entry(5, 5, 4, safety=1),  # safety stock takes the last one: out
        entry(6, 5, 4, safety=1),  # still out: nothing
    ]
    found = [(c.threshold, c.entry.sequence, c.previous_available) for c in crossings(entries, {})]
    assert found == [
        (Threshold.BACK_IN_STOCK, 1, 0),
        (Threshold.OUT_OF_STOCK, 3, 2),
        (Threshold.BACK_IN_STOCK, 4, 0),
        (Threshold.OUT_OF_STOCK, 5, 1),
    ]
    before = {StockKey("SKU-1", "WH-1"): StockLevel("SKU-1", "WH-1", 5, 0, 0, 1)}
    assert [c.threshold for c in crossings([entry(2, 5, 5)], before)] == [Threshold.OUT_OF_STOCK]
    assert crossings([entry(2, 6, 0)], before) == []


def test_below_reorder_point_fires_when_available_drops_below_it_and_again_after_a_recovery() -> (
    None
):
    entries = [
        entry(1, 20, 0),  # no reorder point yet
        entry(2, 20, 0, reorder_point=10),  # set: 20 available, not below
        entry(3, 20, 11, reorder_point=10),  # 9 < 10: below
        entry(4, 20, 15, reorder_point=10),  # still below: nothing
        entry(5, 20, 0, reorder_point=10),  # recovered
        entry(6, 20, 20, reorder_point=10),  # below again (and out of stock)
        entry(7, 30, 20, reorder_point=10),  # 10: at the point, not below
        entry(8, 30, 20, reorder_point=11),  # the point raised above available: below
        entry(9, 30, 20, reorder_point=0),  # no reorder point any more
    ]

    found = [
        (c.threshold, c.entry.sequence, c.previous_available)
        for c in crossings(entries, {})
        if c.threshold is Threshold.BELOW_REORDER_POINT
    ]

    assert found == [
        (Threshold.BELOW_REORDER_POINT, 3, 20),
        (Threshold.BELOW_REORDER_POINT, 6, 20),
        (Threshold.BELOW_REORDER_POINT, 8, 10),
    ]
    below = StockLevel("SKU-1", "WH-1", 5, 0, 0, 1, reorder_point=10)
    assert crossings([entry(2, 4, 0, reorder_point=10)], {below.key: below}) == []


async def test_a_level_dropping_below_its_reorder_point_is_published(
    database_url: str, events_config: EventsConfig
) -> None:
    await migrate(MIGRATIONS, database_url)
    config = dataclasses.replace(events_config, service="inventory")
    async with running_inventory(database_url, ManualClock(), config) as inventory:
        await inventory.register(["MUG"], ["WH-1"])
        await inventory.receive("MUG", "WH-1", 12)
        point = await inventory.stub.SetReorderPoint(
            pb.SetReorderPointRequest(
                sku="MUG", location_id="WH-1", reorder_point=10, request_id=request_id()
            )
        )
        damaged = await inventory.stub.MoveStock(
            pb.MoveStockRequest(
                sku="MUG",
                location_id="WH-1",
                from_state=pb.STOCK_STATE_SELLABLE,
                to_state=pb.STOCK_STATE_DAMAGED,
                quantity=3,
                reason="DROPPED",
                request_id=request_id(),
            )
        )
        await inventory.reserve({"MUG": 2})  # still below: no second event

        async def all_published() -> bool:
            return len(await stream_envelopes(config)) >= 6

        await eventually(all_published)
    published = await stream_envelopes(config)
    below = [e for e in published if e.type == "stockroom.inventory.v1.below_reorder_point"]
    assert [e.type.rsplit(".", 1)[1] for e in published] == [
        "movement_recorded",
        "back_in_stock",
        "movement_recorded",
        "movement_recorded",
        "below_reorder_point",
        "movement_recorded",
    ]
    assert point.movement.kind == pb.MOVEMENT_KIND_REORDER_POINT
    assert point.level.reorder_point == 10
    assert [e.id for e in below] == [f"ledger-{damaged.movement.sequence}-below-reorder-point"]
    crossed = unpack(below[0], events_pb2.StockThresholdCrossed)
    assert crossed.threshold == events_pb2.STOCK_THRESHOLD_BELOW_REORDER_POINT
    assert (crossed.previous_available, crossed.level.available) == (12, 9)
    assert (crossed.level.reorder_point, crossed.level.damaged) == (10, 3)
    assert crossed.ledger_sequence == damaged.movement.sequence


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(1500):  # polled every 20 ms, 30 s at most: a bound, not a deadline
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("still not true after the bounded wait")


async def test_every_ledger_entry_and_threshold_is_published_once(
    database_url: str, events_config: EventsConfig
) -> None:
    await migrate(MIGRATIONS, database_url)
    config = dataclasses.replace(events_config, service="inventory")
    async with running_inventory(database_url, ManualClock(), config) as inventory:
        await inventory.register(["MUG.1"], ["WH-1"])
        await inventory.receive("MUG.1", "WH-1", 5)
        held = await inventory.reserve({"MUG.1": 5})
        await inventory.stub.ReleaseReservation(
            pb.ReleaseReservationRequest(
                reservation_id=held.reservation_id, request_id=request_id()
            )
        )
        ledger = await inventory.stub.ListMovements(pb.ListMovementsRequest(sku="MUG.1"))

        async def all_published() -> bool:
            return len(await stream_envelopes(config)) >= 6

        await eventually(all_published)
    published = await stream_envelopes(config)
    sequences = [m.sequence for m in ledger.movements]
    assert [m.kind for m in ledger.movements] == [
        pb.MOVEMENT_KIND_RECEIPT,
        pb.MOVEMENT_KIND_RESERVATION,
        pb.MOVEMENT_KIND_RELEASE,
    ]
    assert [(e.type, e.id) for e in published] == [
        ("stockroom.inventory.v1.movement_recorded", f"ledger-{sequences[0]}"),
        ("stockroom.inventory.v1.back_in_stock", f"ledger-{sequences[0]}-back-in-stock"),
        ("stockroom.inventory.v1.movement_recorded", f"ledger-{sequences[1]}"),
        ("stockroom.inventory.v1.out_of_stock", f"ledger-{sequences[1]}-out-of-stock"),
        ("stockroom.inventory.v1.movement_recorded", f"ledger-{sequences[2]}"),
        ("stockroom.inventory.v1.back_in_stock", f"ledger-{sequences[2]}-back-in-stock"),
    ]
    assert {e.source for e in published} == {"/stockroom/inventory"}
    assert {e.subject for e in published} == {"MUG.1@WH-1"}
    assert [unpack(e, pb.Movement) for e in published[::2]] == list(ledger.movements)
    out = unpack(published[3], events_pb2.StockThresholdCrossed)
    assert out.threshold == events_pb2.STOCK_THRESHOLD_OUT_OF_STOCK
    assert (out.previous_available, out.level.available) == (5, 0)
    assert out.ledger_sequence == sequences[1]
    back = unpack(published[5], events_pb2.StockThresholdCrossed)
    assert back.threshold == events_pb2.STOCK_THRESHOLD_BACK_IN_STOCK
    assert (back.previous_available, back.level.available) == (0, 5)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_writes_work_without_a_broker_and_their_events_wait(sqlite_url: str) -> None:
    await migrate(MIGRATIONS, sqlite_url)
    unreachable = EventsConfig("inventory", enabled=True, url=f"nats://127.0.0.1:{closed_port()}")
    async with running_inventory(sqlite_url, ManualClock(), unreachable) as inventory:
        await inventory.register(["MUG"], ["WH-1"])
        await inventory.receive("MUG", "WH-1", 5)
        await inventory.reserve({"MUG": 2})
        assert (await inventory.level("MUG", "WH-1")).available == 3
    engine = create_engine(sqlite_url)
    async with engine.connect() as connection:
        pending = await connection.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.publish_time.is_(None))
        )
    await engine.dispose()
    # The receipt, its back-in-stock, the reservation: published once a broker is there.
    assert pending == 3


async def test_nothing_is_written_to_the_outbox_when_publishing_is_off(sqlite_url: str) -> None:
    await migrate(MIGRATIONS, sqlite_url)
    assert not InventorySettings(ServerConfig("inventory")).events.enabled
    async with running_inventory(sqlite_url, ManualClock()) as inventory:
        await inventory.register(["MUG"], ["WH-1"])
        await inventory.receive("MUG", "WH-1", 5)
    engine = create_engine(sqlite_url)
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(outbox)) == 0
        assert await connection.scalar(select(func.count()).select_from(request_records)) == 3
    await engine.dispose()


async def test_the_sweeper_prunes_old_request_records_and_published_events(
    database_url: str,
) -> None:
    await migrate(MIGRATIONS, database_url)
    clock = ManualClock(T0)
    unreachable = EventsConfig("inventory", enabled=True, url=f"nats://127.0.0.1:{closed_port()}")
    async with running_inventory(database_url, clock, unreachable) as inventory:
        await inventory.register(["MUG"], ["WH-1"])
        await inventory.receive("MUG", "WH-1", 5)
    engine = create_engine(database_url)
    async with engine.begin() as connection:  # as if the relay had published them at T0
        await connection.execute(update(outbox).values(publish_time=T0))
    retention = Retention(engine, clock, request_records_age_s=3600, published_events_age_s=60)
    assert await retention.prune() == 0
    clock.advance(120)  # events published 2 minutes ago go, records stay
    assert await retention.prune() == 2
    clock.advance(3600)
    assert await retention.prune() == 3
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(request_records)) == 0
        assert await connection.scalar(select(func.count()).select_from(outbox)) == 0
    await engine.dispose()


def test_publishing_is_a_setting() -> None:
    assert not InventorySettings.from_env({}).events.enabled
    on = InventorySettings.from_env(
        {"INVENTORY_EVENTS_ENABLED": "true", "INVENTORY_REQUEST_RECORD_RETENTION_S": "60"}
    )
    assert on.events.enabled
    assert on.events.stream_name == "STOCKROOM_INVENTORY"
    assert on.request_record_retention_s == 60
