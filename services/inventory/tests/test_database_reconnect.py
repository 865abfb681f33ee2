"""The first calls after the database lost every connection succeed: killed backends and a
restart (as the server sees it) cost a reconnect, not an error. The client here never
retries, so every success is the server's own doing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from stockroom.common.client import Policy, connect
from stockroom.common.db import migrate
from stockroom.common.server import ServerConfig
from stockroom.common.testing import FaultProxy, serving
from stockroom.inventory.app import MIGRATIONS, InventorySettings, build_server
from stockroom.inventory.testing import Inventory, ManualClock, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc

pytestmark = pytest.mark.postgres

NO_RETRIES = Policy(timeout_s=30.0, retry=None, breaker=None)
# Background jobs that would meet the dead connections first are kept quiet.
QUIET_JOBS: dict[str, Any] = {"sweep_interval_s": 3600.0, "watch_poll_interval_s": 3600.0}


@asynccontextmanager
async def inventory_on(database_url: str) -> AsyncIterator[Inventory]:
    config = ServerConfig(service_name="inventory", port=0, database_url=database_url)
    clock = ManualClock()
    async with (
        serving(build_server(InventorySettings(config, **QUIET_JOBS), clock)) as address,
        connect(address, NO_RETRIES) as channel,
    ):
        yield Inventory(pb_grpc.InventoryServiceStub(channel), clock)


async def arrange(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)
    # The ledger tail reads after each commit; let it finish, so that the calls
    # under test, not the tail, are the first to meet the dead connections.
    await asyncio.sleep(0.3)


async def terminate_connections(url: str) -> int:
    """Terminate every backend connected to the database at ``url``; wait until they exit."""
    dsn = make_url(url).set(drivername="postgresql", database="postgres")
    admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        terminated = await admin.fetch(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            make_url(url).database,
        )
    finally:
        await admin.close()
    return len(terminated)


async def hot_calls(inventory: Inventory) -> tuple[int, int, int, int]:
    """One of each hot RPC; returns what they report."""
    received = await inventory.receive("MUG", "WH-1", 1)
    available = await inventory.stub.CheckAvailability(
        pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku="MUG", quantity=1)])
    )
    reservation = await inventory.reserve({"MUG": 2})
    confirmed = await inventory.stub.ConfirmReservation(
        pb.ConfirmReservationRequest(
            reservation_id=reservation.reservation_id, request_id=request_id()
        )
    )
    return (
        received.on_hand,
        available.lines[0].available,
        reservation.lines[0].quantity,
        confirmed.reservation.state,
    )


async def test_calls_after_every_backend_was_terminated_succeed(postgres_url: str) -> None:
    await migrate(MIGRATIONS, postgres_url)
    async with inventory_on(postgres_url) as inventory:
        await arrange(inventory)

        terminated = await terminate_connections(postgres_url)
        after = await hot_calls(inventory)

    assert terminated >= 1
    assert after == (11, 11, 2, pb.RESERVATION_STATE_CONFIRMED)


async def test_calls_after_the_database_dropped_every_connection_succeed(
    postgres_url: str,
) -> None:
    await migrate(MIGRATIONS, postgres_url)
    url = make_url(postgres_url)
    async with FaultProxy(f"{url.host}:{url.port or 5432}") as proxy:
        host, port = proxy.address.rsplit(":", 1)
        proxied = url.set(host=host, port=int(port)).render_as_string(hide_password=False)
        async with inventory_on(proxied) as inventory:
            await arrange(inventory)

            proxy.drop_connections()  # what the server sees when PostgreSQL restarts
            after = await hot_calls(inventory)

    assert after == (11, 11, 2, pb.RESERVATION_STATE_CONFIRMED)
