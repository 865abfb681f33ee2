"""Read RPCs from a streaming replica: labelled with their staleness, never deciding a write.

The replica is a real hot standby of the test PostgreSQL (``streaming_replica_server``),
made with pg_basebackup. Pausing its WAL replay makes it fall behind on demand,
so the tests can tell which server answered by what the answer says.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from google.type import money_pb2

from stockroom.common.client import connect
from stockroom.common.db import migrate
from stockroom.common.errors import FailedPrecondition
from stockroom.common.server import (
    READ_CONSISTENCY_KEY,
    READ_SOURCE_KEY,
    STALENESS_KEY,
    ServerConfig,
)
from stockroom.common.testing import (
    Replica,
    admin_url,
    free_port,
    serving,
    set_replay_paused,
    wait_until_replayed,
)
from stockroom.inventory.app import MIGRATIONS, InventorySettings, build_server
from stockroom.inventory.testing import TEST_CLIENT_POLICY, Inventory, ManualClock
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc
from stockroom.pricing import app as pricing_app
from stockroom.pricing.v1 import pricing_pb2 as pr
from stockroom.pricing.v1 import pricing_pb2_grpc as pr_grpc

pytestmark = pytest.mark.postgres

# Background jobs run often so the tests do not wait long for them.
JOBS: dict[str, Any] = {"sweep_interval_s": 0.05, "watch_poll_interval_s": 0.05}
# Bounded polling for the replica to catch up after replay resumes.
CATCH_UP_POLLS = 600


@dataclass
class Answer:
    available: int
    source: str
    staleness_ms: int | None


async def check(
    stub: pb_grpc.InventoryServiceAsyncStub, sku: str, *, fresh: bool = False
) -> Answer:
    metadata: Sequence[tuple[str, str]] = ((READ_CONSISTENCY_KEY, "primary"),) if fresh else ()
    call = stub.CheckAvailability(
        pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku=sku, quantity=1)]),
        metadata=metadata,
    )
    response = await call
    trailers = dict(await call.trailing_metadata() or ())
    staleness = trailers.get(STALENESS_KEY)
    return Answer(
        response.lines[0].available,
        str(trailers.get(READ_SOURCE_KEY)),
        None if staleness is None else int(staleness),
    )


async def reserve(stub: pb_grpc.InventoryServiceAsyncStub, sku: str, quantity: int) -> str:
    """The reservation's id, or the reason it was refused."""
    try:
        response = await stub.ReserveStock(
            pb.ReserveStockRequest(
                lines=[pb.ReserveStockLine(sku=sku, quantity=quantity)],
                ttl=Duration(seconds=900),
                request_id=str(uuid.uuid4()),
            )
        )
    except FailedPrecondition:
        return "REFUSED"
    return str(response.reservation.reservation_id)


@asynccontextmanager
async def inventory_with_replica(
    primary_url: str, replica_url: str, *, max_lag_s: float = 3600.0
) -> AsyncIterator[Inventory]:
    config = ServerConfig(
        service_name="inventory",
        port=0,
        database_url=primary_url,
        database_replica_url=replica_url,
        replica_max_lag_s=max_lag_s,
    )
    async with (
        serving(build_server(InventorySettings(config, **JOBS), ManualClock())) as address,
        connect(address, TEST_CLIENT_POLICY) as channel,
    ):
        yield Inventory(pb_grpc.InventoryServiceStub(channel), ManualClock())


@pytest.fixture
async def primary_url(postgres_url: str) -> str:
    await migrate(MIGRATIONS, postgres_url)
    return postgres_url


@pytest.fixture
async def replica(streaming_replica_server: Replica, primary_url: str) -> AsyncIterator[Replica]:
    """The session's replica, caught up with the test's database, replaying again afterwards."""
    await wait_until_replayed(admin_url(), streaming_replica_server)
    try:
        yield streaming_replica_server
    finally:
        await set_replay_paused(admin_url(), streaming_replica_server, paused=False)


async def test_reservations_are_decided_on_the_primary_while_reads_come_from_a_lagging_replica(
    primary_url: str, replica: Replica
) -> None:
    async with inventory_with_replica(primary_url, replica.url(primary_url)) as inventory:
        stub = inventory.stub
        await inventory.register(["MUG", "PEN"], ["WH-1"])
        await inventory.receive("MUG", "WH-1", 5)
        await wait_until_replayed(admin_url(), replica)
        caught_up = await check(stub, "MUG")
        assert (caught_up.available, caught_up.source) == (5, "replica")
        assert caught_up.staleness_ms is not None

        await set_replay_paused(admin_url(), replica, paused=True)
        assert await reserve(stub, "MUG", 5) != "REFUSED"
        # The replica still shows the 5 units; the reservation that follows is refused,
        # so it was decided on the primary's data, where none are left.
        stale = await check(stub, "MUG")
        assert (stale.available, stale.source) == (5, "replica")
        assert stale.staleness_ms is not None
        assert stale.staleness_ms >= 1
        assert await reserve(stub, "MUG", 1) == "REFUSED"
        # The other way round: stock the replica has never seen can be reserved.
        await inventory.receive("PEN", "WH-1", 2)
        assert (await check(stub, "PEN")).available == 0
        pen = await reserve(stub, "PEN", 2)
        assert pen != "REFUSED"
        # What must see the caller's own writes stays on the primary.
        got = await stub.GetReservation(pb.GetReservationRequest(reservation_id=pen))
        assert got.reservation.reservation_id == pen
        fresh = await check(stub, "MUG", fresh=True)
        assert (fresh.available, fresh.source, fresh.staleness_ms) == (0, "primary", None)

        await set_replay_paused(admin_url(), replica, paused=False)
        for _ in range(CATCH_UP_POLLS):
            answer = await check(stub, "MUG")
            if answer.available == 0:
                break
        assert (answer.available, answer.source) == (0, "replica")


async def test_reads_go_to_the_primary_when_the_replica_is_too_far_behind(
    primary_url: str, replica: Replica
) -> None:
    async with inventory_with_replica(
        primary_url, replica.url(primary_url), max_lag_s=0.0
    ) as inventory:
        await inventory.register(["MUG"], ["WH-1"])
        await set_replay_paused(admin_url(), replica, paused=True)
        await inventory.receive("MUG", "WH-1", 3)
        # Replay is paused behind a commit: the measured lag is above zero.
        answer = await check(inventory.stub, "MUG")
        assert (answer.available, answer.source, answer.staleness_ms) == (3, "primary", None)


async def test_reads_go_to_the_primary_when_the_replica_is_unreachable(primary_url: str) -> None:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/absent"
    async with inventory_with_replica(primary_url, nowhere) as inventory:
        await inventory.register(["MUG"], ["WH-1"])
        await inventory.receive("MUG", "WH-1", 4)
        answer = await check(inventory.stub, "MUG")
        assert (answer.available, answer.source) == (4, "primary")


async def test_pricing_reads_prices_from_the_replica_and_says_how_stale(
    postgres_url: str, replica: Replica
) -> None:
    await migrate(pricing_app.MIGRATIONS, postgres_url)
    server = ServerConfig(
        service_name="pricing",
        port=0,
        database_url=postgres_url,
        database_replica_url=replica.url(postgres_url),
        replica_max_lag_s=3600.0,
    )
    config = pricing_app.PricingSettings(server, inventory_target=f"127.0.0.1:{free_port()}")
    async with (
        serving(pricing_app.build_server(config)) as address,
        connect(address, TEST_CLIENT_POLICY) as channel,
    ):
        stub = pr_grpc.PricingServiceStub(channel)

        async def set_price(units: int) -> None:
            await stub.SetPrice(
                pr.SetPriceRequest(
                    sku="MUG",
                    unit_price=money_pb2.Money(currency_code="USD", units=units),
                    request_id=str(uuid.uuid4()),
                )
            )

        async def price(*, fresh: bool = False) -> tuple[int, str]:
            metadata = ((READ_CONSISTENCY_KEY, "primary"),) if fresh else ()
            call = stub.GetPrice(
                pr.GetPriceRequest(sku="MUG", currency_code="USD"), metadata=metadata
            )
            response = await call
            trailers = dict(await call.trailing_metadata() or ())
            return response.price.unit_price.units, str(trailers.get(READ_SOURCE_KEY))

        await set_price(12)
        await wait_until_replayed(admin_url(), replica)
        assert await price() == (12, "replica")
        await set_replay_paused(admin_url(), replica, paused=True)
        await set_price(15)
        assert await price() == (12, "replica")
        assert await price(fresh=True) == (15, "primary")
