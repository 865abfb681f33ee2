"""Two inventory replicas as real processes on one PostgreSQL database, under load and faults.

Workers reserve stock with request ids, each on a replica of their choice; a
call that fails is replayed with the same request id (on the other replica),
a bounded number of times. Faults: SIGKILL of a replica (then a restart),
SIGTERM (drain), responses lost after commit (fault proxy), PostgreSQL
backends terminated, PostgreSQL blackholed (fault proxy between the replicas
and the database). After each, through the API only (so it holds whatever the
storage layer looks like):

- no oversell: per level reserved <= on_hand, in total reserved <= received;
- the ledger equals the levels: the movements' deltas sum to each level;
- every acknowledged reservation exists;
- replays apply once: each acknowledged request id replayed again returns the
  same reservation and changes no level.

No assertion depends on how fast anything was; every loop is bounded.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import pytest

from stockroom.cli.processes import ServiceProcess, start_service, wait_until_serving
from stockroom.common.client import Policy, connect
from stockroom.common.db import migrate
from stockroom.common.errors import StockroomError
from stockroom.common.server import NOT_SERVING, check_health
from stockroom.common.testing import FaultProxy, temporary_database
from stockroom.common.testing.pytest_plugin import require_postgres
from stockroom.inventory import app as inventory_app
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
SKUS = [f"SKU-{i}" for i in range(4)]
RECEIVED = 60  # per SKU: the workers ask for more than this in total, so some are refused
WORKERS = 8
RESERVATIONS_PER_WORKER = 12
REPLAYS = 20  # a failed reservation is replayed (same request id) at most this often
# Generous, so a loaded machine never turns a slow answer into a failure.
CALL_TIMEOUT_S = 20.0
# The clients used by the workers: no breaker (replicas are chosen by the worker).
CLIENT = Policy(timeout_s=CALL_TIMEOUT_S, breaker=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    port: int
    env: dict[str, str]
    log: Path
    process: ServiceProcess | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await start_service(
                "inventory",
                self.address,
                {**self.env, "INVENTORY_PORT": str(self.port)},
                log=log.fileno(),
            )
        await wait_until_serving(self.process, timeout_s=60)

    def signal(self, signal_number: int) -> None:
        assert self.process is not None
        os.kill(self.process.process.pid, signal_number)

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.process.wait()

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()


@dataclass
class Outcome:
    """What the workers saw: acknowledged reservations by request id, and every failure."""

    acknowledged: dict[str, pb.Reservation] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)  # not enough stock: an answer too
    failures: list[str] = field(default_factory=list)  # code/reason of each failed attempt
    gave_up: list[str] = field(default_factory=list)


@dataclass
class Cluster:
    url: str
    replicas: list[Replica]
    database: FaultProxy
    stubs: list[pb_grpc.InventoryServiceAsyncStub]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    await require_postgres()
    async with temporary_database("stockroom_chaos") as url:
        await migrate(inventory_app.MIGRATIONS, url)
        host_port = url.split("@", 1)[1].split("/", 1)[0]
        async with FaultProxy(host_port) as database:
            env = {
                "INVENTORY_DATABASE_URL": url.replace(host_port, database.address),
                "INVENTORY_DRAIN_WINDOW_S": "1",
                "INVENTORY_DRAIN_GRACE_S": "20",
                "OTEL_SDK_DISABLED": "true",
            }
            replicas = [Replica(free_port(), env, tmp_path / f"replica-{i}.log") for i in (0, 1)]
            try:
                for replica in replicas:
                    await replica.start()
                async with (
                    connect(replicas[0].address, CLIENT) as first,
                    connect(replicas[1].address, CLIENT) as second,
                ):
                    stubs = [
                        pb_grpc.InventoryServiceStub(first),
                        pb_grpc.InventoryServiceStub(second),
                    ]
                    await seed(stubs[0])
                    yield Cluster(url, replicas, database, stubs)
            finally:
                for replica in replicas:
                    await replica.stop()


async def seed(stub: pb_grpc.InventoryServiceAsyncStub) -> None:
    await stub.CreateLocation(
        pb.CreateLocationRequest(
            location=pb.Location(location_id="WH-1", kind=pb.LOCATION_KIND_WAREHOUSE),
            request_id=str(uuid.uuid4()),
        )
    )
    for sku in SKUS:
        await stub.CreateItem(
            pb.CreateItemRequest(item=pb.Item(sku=sku), request_id=str(uuid.uuid4()))
        )
        await stub.ReceiveStock(
            pb.ReceiveStockRequest(
                sku=sku, location_id="WH-1", quantity=RECEIVED, request_id=str(uuid.uuid4())
            )
        )


def reservation_request(rand: random.Random) -> pb.ReserveStockRequest:
    skus = rand.sample(SKUS, 2)
    return pb.ReserveStockRequest(
        request_id=str(uuid.uuid4()),
        lines=[pb.ReserveStockLine(sku=sku, quantity=rand.randint(1, 3)) for sku in skus],
    )


async def reserve_until_answered(
    stubs: list[pb_grpc.InventoryServiceAsyncStub],
    request: pb.ReserveStockRequest,
    outcome: Outcome,
    rand: random.Random,
) -> None:
    """One logical reservation: replayed with its request id until it gets an answer."""
    replica = rand.randrange(len(stubs))
    for _ in range(REPLAYS):
        try:
            response = await stubs[replica].ReserveStock(request, timeout=CALL_TIMEOUT_S)
        except StockroomError as error:
            if error.code == "FAILED_PRECONDITION":
                outcome.refused.add(request.request_id)
                return
            outcome.failures.append(f"{error.code}/{error.reason}")
            replica = 1 - replica  # the other replica, same request id
            await asyncio.sleep(rand.uniform(0.05, 0.2))
            continue
        outcome.acknowledged[request.request_id] = response.reservation
        return
    outcome.gave_up.append(request.request_id)


async def load(cluster: Cluster, outcome: Outcome, seed_value: int) -> None:
    async def worker(number: int) -> None:
        rand = random.Random(seed_value * 100 + number)
        for _ in range(RESERVATIONS_PER_WORKER):
            await reserve_until_answered(cluster.stubs, reservation_request(rand), outcome, rand)

    await asyncio.gather(*(worker(n) for n in range(WORKERS)))


async def under_load(
    cluster: Cluster, fault: Callable[[], Awaitable[None]], seed_value: int
) -> Outcome:
    """Run the load, inject ``fault`` once a few reservations are acknowledged."""
    outcome = Outcome()
    running = asyncio.create_task(load(cluster, outcome, seed_value))
    for _ in range(2000):  # bounded wait for the load to be under way
        if len(outcome.acknowledged) >= 5 or running.done():
            break
        await asyncio.sleep(0.01)
    await fault()
    await running
    return outcome


async def all_movements(stub: pb_grpc.InventoryServiceAsyncStub) -> list[pb.Movement]:
    movements: list[pb.Movement] = []
    token = ""
    for _ in range(1000):  # bounded paging
        page = await stub.ListMovements(
            pb.ListMovementsRequest(page_size=500, page_token=token), timeout=CALL_TIMEOUT_S
        )
        movements += page.movements
        token = page.next_page_token
        if not token:
            return movements
    raise AssertionError("more pages than any test writes")


async def assert_invariants(stub: pb_grpc.InventoryServiceAsyncStub, outcome: Outcome) -> None:
    assert not outcome.gave_up, outcome.failures[-10:]
    levels = {
        (level.sku, level.location_id): level
        for item in (
            await stub.BatchGetStockLevels(
                pb.BatchGetStockLevelsRequest(skus=SKUS), timeout=CALL_TIMEOUT_S
            )
        ).skus
        for level in item.levels
    }
    # No oversell.
    assert all(0 <= lv.reserved <= lv.on_hand for lv in levels.values())
    assert sum(lv.reserved for lv in levels.values()) <= RECEIVED * len(SKUS)
    # The ledger equals the levels.
    sums: dict[tuple[str, str], list[int]] = {key: [0, 0] for key in levels}
    for movement in await all_movements(stub):
        sums[(movement.sku, movement.location_id)][0] += movement.on_hand_delta
        sums[(movement.sku, movement.location_id)][1] += movement.reserved_delta
    assert {k: (lv.on_hand, lv.reserved) for k, lv in levels.items()} == {
        k: (v[0], v[1]) for k, v in sums.items()
    }
    # Every acknowledged write exists, and the acknowledged ones account for what is reserved.
    acknowledged = sum(line.quantity for r in outcome.acknowledged.values() for line in r.lines)
    for reservation in outcome.acknowledged.values():
        found = await stub.GetReservation(
            pb.GetReservationRequest(reservation_id=reservation.reservation_id),
            timeout=CALL_TIMEOUT_S,
        )
        assert found.reservation.reservation_id == reservation.reservation_id
    assert sum(lv.reserved for lv in levels.values()) == acknowledged
    # Replays apply once.
    for request_id, reservation in list(outcome.acknowledged.items())[:10]:
        replay = pb.ReserveStockRequest(
            request_id=request_id,
            lines=[
                pb.ReserveStockLine(sku=line.sku, quantity=line.quantity)
                for line in reservation.lines
            ],
        )
        again = await stub.ReserveStock(replay, timeout=CALL_TIMEOUT_S)
        assert again.reservation.reservation_id == reservation.reservation_id
    after = await stub.BatchGetStockLevels(
        pb.BatchGetStockLevelsRequest(skus=SKUS), timeout=CALL_TIMEOUT_S
    )
    assert sum(lv.reserved for item in after.skus for lv in item.levels) == acknowledged


async def test_sigkill_of_one_replica_under_load_then_restart(cluster: Cluster) -> None:
    victim = cluster.replicas[0]

    async def kill() -> None:
        victim.signal(9)
        await victim.wait()

    outcome = await under_load(cluster, kill, seed_value=1)
    # A fresh port: on a shared machine the old one may have been handed to another process.
    victim.port = free_port()
    await victim.start()
    assert victim.process is not None
    await wait_until_serving(victim.process, timeout_s=60)
    async with connect(victim.address, CLIENT) as channel:  # the restarted replica answers
        await assert_invariants(pb_grpc.InventoryServiceStub(channel), outcome)


async def test_sigterm_under_load_drains_without_failing_a_call_in_flight(
    cluster: Cluster,
) -> None:
    victim = cluster.replicas[0]
    seen_not_serving = asyncio.Event()

    async def terminate() -> None:
        victim.signal(15)
        async with grpc.aio.insecure_channel(victim.address) as probe:
            for _ in range(500):  # bounded: the drain window is 1 s
                try:
                    if await check_health(probe, timeout_s=2) == NOT_SERVING:
                        seen_not_serving.set()
                        break
                except grpc.aio.AioRpcError:
                    break  # the listener closed: the window is over
                await asyncio.sleep(0.01)
        assert await victim.wait() == 0

    outcome = await under_load(cluster, terminate, seed_value=2)

    assert seen_not_serving.is_set()
    # Calls the draining replica accepted all finished; only calls it no longer accepted
    # failed, with UNAVAILABLE, and were answered by the other replica.
    assert {f.split("/")[0] for f in outcome.failures} <= {"UNAVAILABLE"}, outcome.failures
    await assert_invariants(cluster.stubs[1], outcome)


async def test_responses_lost_after_commit_are_replayed_and_apply_once(cluster: Cluster) -> None:
    async with (
        FaultProxy(cluster.replicas[0].address) as proxy,
        connect(proxy.address, CLIENT) as channel,
    ):
        cluster.stubs[0] = pb_grpc.InventoryServiceStub(channel)

        async def lose() -> None:
            proxy.lose_responses(10)

        outcome = await under_load(cluster, lose, seed_value=3)
        assert proxy.responses_lost > 0
        await assert_invariants(cluster.stubs[1], outcome)


async def test_postgresql_backends_terminated_under_load(cluster: Cluster) -> None:
    async def terminate_backends() -> None:
        name = cluster.url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(
            cluster.url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0] + "/postgres"
        )
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        finally:
            await admin.close()

    outcome = await under_load(cluster, terminate_backends, seed_value=4)
    await assert_invariants(cluster.stubs[1], outcome)


async def test_postgresql_blackholed_under_load(cluster: Cluster) -> None:
    async def blackhole() -> None:
        cluster.database.blackhole = True
        cluster.database.drop_connections()
        await asyncio.sleep(1.0)  # the fault lasts a while; nothing is asserted about time
        cluster.database.blackhole = False

    outcome = await under_load(cluster, blackhole, seed_value=5)
    await assert_invariants(cluster.stubs[1], outcome)
    assert {f.split("/")[0] for f in outcome.failures} <= {"UNAVAILABLE"}, outcome.failures
