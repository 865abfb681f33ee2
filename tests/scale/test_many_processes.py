"""Four inventory processes on one database through one PgBouncer, under concurrent reservations.

What must hold: no level is oversold, every level equals the sum of its
ledger movements, and the database sees no more connections than PgBouncer's
pool, however many the processes open (each keeps its own SQLAlchemy pool).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from google.protobuf.duration_pb2 import Duration
from sqlalchemy.engine import make_url

from stockroom.cli.processes import ServiceProcess, start_service, wait_until_serving
from stockroom.common.client import connect
from stockroom.common.db import migrate
from stockroom.common.errors import FailedPrecondition
from stockroom.common.testing import (
    PgBouncer,
    admin_url,
    free_port,
    running_pgbouncer,
    temporary_database,
)
from stockroom.common.testing.pytest_plugin import require_pgbouncer, require_postgres
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.testing import TEST_CLIENT_POLICY
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROCESSES = 4
# Fewer server connections than processes: each process keeps at least one client
# connection of its own, so the pooler must be sharing them.
SERVER_POOL = 2
SKUS = ("A", "B", "C")
LOCATIONS = ("WH-1", "WH-2")
RECEIVED_PER_LEVEL = 15
ATTEMPTS = 240
IN_FLIGHT = 24


def ids() -> str:
    return str(uuid.uuid4())


@asynccontextmanager
async def inventory_processes(
    database_url: str, bouncer: PgBouncer, tmp_path: Path
) -> AsyncIterator[list[pb_grpc.InventoryServiceAsyncStub]]:
    """PROCESSES ``python -m stockroom.inventory`` on ``database_url`` through ``bouncer``."""
    through = make_url(database_url).set(host=bouncer.host, port=bouncer.port)
    env = {
        "INVENTORY_DATABASE_URL": through.render_as_string(hide_password=False),
        "INVENTORY_DATABASE_POOLER": "transaction",
        "INVENTORY_SWEEP_INTERVAL_S": "0.2",
        "INVENTORY_LOG_LEVEL": "WARNING",
    }
    async with AsyncExitStack() as stack:
        processes: list[ServiceProcess] = []
        for n in range(PROCESSES):
            port = free_port()
            log = stack.enter_context((tmp_path / f"inventory-{n}.log").open("wb"))
            process = await start_service(
                "inventory",
                f"127.0.0.1:{port}",
                {**env, "INVENTORY_PORT": str(port)},
                log=log.fileno(),
            )
            stack.push_async_callback(process.stop)
            processes.append(process)
        await asyncio.gather(*(wait_until_serving(p, timeout_s=90) for p in processes))
        stubs = []
        for process in processes:
            channel = await stack.enter_async_context(connect(process.address, TEST_CLIENT_POLICY))
            stubs.append(pb_grpc.InventoryServiceStub(channel))
        yield stubs


class Load:
    """Reserves at random across the processes; confirms or releases some of what it got."""

    def __init__(self, stubs: list[pb_grpc.InventoryServiceAsyncStub]) -> None:
        self.stubs = stubs
        self.random = random.Random(17)
        self.held: dict[str, int] = defaultdict(int)
        self.shipped: dict[str, int] = defaultdict(int)
        self.refused = 0

    async def one(self, n: int, gate: asyncio.Semaphore) -> None:
        stub = self.stubs[n % len(self.stubs)]
        sku, quantity = self.random.choice(SKUS), self.random.randint(1, 3)
        async with gate:
            try:
                response = await stub.ReserveStock(
                    pb.ReserveStockRequest(
                        lines=[pb.ReserveStockLine(sku=sku, quantity=quantity)],
                        ttl=Duration(seconds=3600),
                        request_id=ids(),
                    )
                )
            except FailedPrecondition:
                self.refused += 1
                return
            reservation_id = response.reservation.reservation_id
            # Another process finishes it: any process may serve any call.
            other = self.stubs[(n + 1) % len(self.stubs)]
            if n % 3 == 0:
                await other.ReleaseReservation(
                    pb.ReleaseReservationRequest(reservation_id=reservation_id, request_id=ids())
                )
            elif n % 3 == 1:
                await other.ConfirmReservation(
                    pb.ConfirmReservationRequest(reservation_id=reservation_id, request_id=ids())
                )
                self.shipped[sku] += quantity
            else:
                self.held[sku] += quantity


async def backend_pids(admin: asyncpg.Connection, database: str) -> set[int]:
    rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    return {int(row["pid"]) for row in rows}


async def watch_connections(
    database: str, bouncer: PgBouncer, done: asyncio.Event
) -> tuple[int, set[int]]:
    """The most backends of PgBouncer's the database had at once, sampled until ``done``,
    and the other backends seen that did not end soon after.

    A client that times out drops its PgBouncer connection mid-query; PgBouncer closes
    that server connection and opens another, while the abandoned backend runs on until
    it notices. Such a backend is not PgBouncer's (SHOW SERVERS' remote_pid) and ends
    by itself; one that does not end is a connection that bypasses the pooler.
    """
    admin = await asyncpg.connect(
        make_url(admin_url()).set(drivername="postgresql").render_as_string(False)
    )
    most, others = 0, set()
    try:
        for _ in range(100_000):
            pids = await backend_pids(admin, database)
            if len(pids) > SERVER_POOL:
                held = await asyncio.to_thread(pgbouncer_server_pids, bouncer, database)
                others |= pids - held
                pids &= held
            most = max(most, len(pids))
            if done.is_set():
                break
            await asyncio.sleep(0.01)
        for _ in range(3_000):
            if not others & await backend_pids(admin, database):
                break
            await asyncio.sleep(0.01)
        lingering = others & await backend_pids(admin, database)
    finally:
        await admin.close()
    return most, lingering


def admin_console(bouncer: PgBouncer, command: str) -> list[list[str]]:
    """The rows PgBouncer's admin console answers ``command`` with."""
    psql = shutil.which("psql") or "/usr/bin/psql"
    rows = subprocess.run(
        [
            psql,
            "-h",
            bouncer.host,
            "-p",
            str(bouncer.port),
            "-U",
            "postgres",
            "-d",
            "pgbouncer",
            "-AtF,",
            "-c",
            command,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.splitlines()
    return [row.split(",") for row in rows]


def pgbouncer_server_pids(bouncer: PgBouncer, database: str) -> set[int]:
    """Backend pids of the server connections PgBouncer holds for ``database``."""
    return {
        int(columns[15])  # remote_pid
        for columns in admin_console(bouncer, "SHOW SERVERS")
        if columns[2] == database and columns[15]
    }


def pgbouncer_clients(bouncer: PgBouncer, database: str) -> int:
    """Client connections PgBouncer holds for ``database`` (its SHOW POOLS)."""
    return sum(
        int(columns[2]) + int(columns[3])  # cl_active + cl_waiting
        for columns in admin_console(bouncer, "SHOW POOLS")
        if columns[0] == database
    )


async def movement_sums(
    stub: pb_grpc.InventoryServiceAsyncStub, sku: str
) -> dict[str, tuple[int, int]]:
    """Per location, the sums of the ledger's on-hand and reserved deltas for ``sku``."""
    sums: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    token = ""
    for _ in range(1000):
        page = await stub.ListMovements(
            pb.ListMovementsRequest(sku=sku, page_size=100, page_token=token)
        )
        for movement in page.movements:
            on_hand, reserved = sums[movement.location_id]
            sums[movement.location_id] = (
                on_hand + movement.on_hand_delta,
                reserved + movement.reserved_delta,
            )
        token = page.next_page_token
        if not token:
            return dict(sums)
    raise AssertionError("the ledger did not end within 1000 pages")


async def test_four_processes_through_pgbouncer_never_oversell(tmp_path: Path) -> None:
    await require_postgres()
    require_pgbouncer()
    async with temporary_database() as direct_url:
        await migrate(MIGRATIONS, direct_url)
        database = str(make_url(direct_url).database)
        with running_pgbouncer(admin_url(), pool_size=SERVER_POOL) as bouncer:
            async with inventory_processes(direct_url, bouncer, tmp_path) as stubs:
                first = stubs[0]
                for sku in SKUS:
                    await first.CreateItem(
                        pb.CreateItemRequest(item=pb.Item(sku=sku), request_id=ids())
                    )
                for location_id in LOCATIONS:
                    await first.CreateLocation(
                        pb.CreateLocationRequest(
                            location=pb.Location(
                                location_id=location_id, kind=pb.LOCATION_KIND_WAREHOUSE
                            ),
                            request_id=ids(),
                        )
                    )
                for sku in SKUS:
                    for location_id in LOCATIONS:
                        await first.ReceiveStock(
                            pb.ReceiveStockRequest(
                                sku=sku,
                                location_id=location_id,
                                quantity=RECEIVED_PER_LEVEL,
                                request_id=ids(),
                            )
                        )

                load, done = Load(stubs), asyncio.Event()
                watcher = asyncio.create_task(watch_connections(database, bouncer, done))
                gate = asyncio.Semaphore(IN_FLIGHT)
                try:
                    await asyncio.gather(*(load.one(n, gate) for n in range(ATTEMPTS)))
                finally:
                    done.set()
                most_connections, lingering = await watcher
                clients = pgbouncer_clients(bouncer, database)

                assert load.refused > 0, "the load must run stock out, or oversell is not tested"
                levels = await first.BatchGetStockLevels(
                    pb.BatchGetStockLevelsRequest(skus=list(SKUS))
                )
                for sku_stock in levels.skus:
                    sku = sku_stock.sku
                    assert (
                        sku_stock.on_hand == RECEIVED_PER_LEVEL * len(LOCATIONS) - load.shipped[sku]
                    )
                    assert sku_stock.reserved == load.held[sku]
                    ledger = await movement_sums(first, sku)
                    for level in sku_stock.levels:
                        assert 0 <= level.reserved <= level.on_hand, level
                        assert level.available >= 0, level
                        assert ledger[level.location_id] == (level.on_hand, level.reserved), level

    seen = f"database connections at most {most_connections}, PgBouncer clients {clients}"
    print(seen)  # shown with -rP: the numbers docs/scaling.md quotes
    assert 0 < most_connections <= SERVER_POOL, seen
    assert not lingering, f"backends not PgBouncer's stayed (bypassing it?): {lingering}"
    assert clients >= PROCESSES > SERVER_POOL, seen
