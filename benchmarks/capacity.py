"""The capacity model's inputs (docs/scaling.md): CPU per call in each service process and in
the PostgreSQL backends serving it, directly and through PgBouncer in transaction mode.

python -m benchmarks.capacity [--calls 1500] [--concurrency 16]

CPU is read from /proc (user + system time of the service process, and of
every PostgreSQL backend connected to the service's database), before and
after a fixed number of calls, so it is CPU per call, not a rate: it does not
depend on how busy the shared machine is the way throughput does (caches and
frequency still do; compare rows within one run). WAL writing by the
walwriter/checkpointer and replication are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
from sqlalchemy.engine import make_url

from benchmarks.processes import LOG_DIR, free_port
from benchmarks.services import (
    CART,
    SKUS,
    _database,
    _reservations,
    seed_inventory,
    seed_prices,
)
from stockroom.common.testing import PgBouncer, admin_url, running_pgbouncer
from stockroom.inventory.v1 import inventory_pb2 as inv
from stockroom.inventory.v1 import inventory_pb2_grpc as inv_grpc
from stockroom.pricing.v1 import pricing_pb2 as pr
from stockroom.pricing.v1 import pricing_pb2_grpc as pr_grpc

TICKS = os.sysconf("SC_CLK_TCK")
Call = Callable[[int], Awaitable[object]]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Service:
    name: str
    address: str
    process: subprocess.Popen[bytes]
    database: str


@contextlib.contextmanager
def service(name: str, env: dict[str, str], database: str) -> Iterator[Service]:
    port = free_port()
    prefix = name.upper()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / f"capacity-{name}.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", f"stockroom.{name}"],
            env={
                **os.environ,
                **env,
                f"{prefix}_PORT": str(port),
                f"{prefix}_LOG_LEVEL": "WARNING",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(process, port)
        yield Service(name, f"127.0.0.1:{port}", process, database)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(process: subprocess.Popen[bytes], port: int) -> None:
    give_up_at = time.monotonic() + 60
    while time.monotonic() < give_up_at:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {LOG_DIR}")
        try:
            import socket

            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"no server on port {port} after 60 s")


async def backends(database: str) -> tuple[list[int], int]:
    """PIDs of the backends connected to ``database``, and its commits so far."""
    admin = await asyncpg.connect(
        make_url(admin_url()).set(drivername="postgresql").render_as_string(False)
    )
    try:
        rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
        commits = await admin.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", database
        )
    finally:
        await admin.close()
    return [int(r["pid"]) for r in rows], int(commits)


@dataclass
class Row:
    name: str
    path: str
    calls: int
    seconds: float
    service_ms: dict[str, float]
    database_ms: float
    commits_per_call: float

    def render(self) -> str:
        services = " ".join(f"{k}={v:.2f}" for k, v in self.service_ms.items())
        return (
            f"| {self.name} | {self.path} | {self.calls / self.seconds:.0f} | {services} "
            f"| {self.database_ms:.2f} | {self.commits_per_call:.2f} |"
        )


async def measure(
    name: str,
    path: str,
    services: list[Service],
    make_call: Callable[[grpc.aio.Channel, int], Call],
    calls: int,
    concurrency: int,
    pooler_pid: int | None,
) -> Row:
    """Run ``calls`` calls against ``services[0]`` and charge CPU to each service and database."""
    databases = {s.database for s in services}
    async with grpc.aio.insecure_channel(services[0].address) as channel:
        workers = [make_call(channel, w) for w in range(concurrency)]
        # Warm up: pools filled, statements compiled, before anything is counted.
        await asyncio.gather(*(workers[w](n) for n, w in enumerate(range(concurrency))))
        before_pids = {d: await backends(d) for d in databases}
        service_before = {s.name: cpu_s(s.process.pid) for s in services}
        pooler_before = cpu_s(pooler_pid) if pooler_pid else 0.0
        db_before = {pid: cpu_s(pid) for pids, _ in before_pids.values() for pid in pids}
        started = time.monotonic()
        per_worker = calls // concurrency

        async def run(worker: int) -> None:
            for n in range(per_worker):
                await workers[worker](n)

        await asyncio.gather(*(run(w) for w in range(concurrency)))
        seconds = time.monotonic() - started
        done = per_worker * concurrency
        after_pids = {d: await backends(d) for d in databases}
    service_ms = {
        s.name: (cpu_s(s.process.pid) - service_before[s.name]) * 1000 / done for s in services
    }
    if pooler_pid:
        service_ms["pgbouncer"] = (cpu_s(pooler_pid) - pooler_before) * 1000 / done
    database_s = 0.0
    for pids, _ in after_pids.values():
        for pid in pids:
            database_s += cpu_s(pid) - db_before.get(pid, 0.0)
    commits = sum(after_pids[d][1] - before_pids[d][1] for d in databases)
    return Row(name, path, done, seconds, service_ms, database_s * 1000 / done, commits / done)


def availability_call(channel: grpc.aio.Channel, worker: int) -> Call:
    stub = inv_grpc.InventoryServiceStub(channel)
    request = inv.CheckAvailabilityRequest(
        lines=[inv.AvailabilityLine(sku=s, quantity=q) for s, q in CART]
    )

    async def call(n: int) -> object:
        return await stub.CheckAvailability(request, timeout=10)

    return call


def reserve_call(channel: grpc.aio.Channel, worker: int) -> Call:
    return _reservations(channel, worker, lines=1)


def levels_call(channel: grpc.aio.Channel, worker: int) -> Call:
    stub = inv_grpc.InventoryServiceStub(channel)
    request = inv.BatchGetStockLevelsRequest(skus=SKUS[:5])

    async def call(n: int) -> object:
        return await stub.BatchGetStockLevels(request, timeout=10)

    return call


def quote_call(channel: grpc.aio.Channel, worker: int) -> Call:
    stub = pr_grpc.PricingServiceStub(channel)
    request = pr.QuoteRequest(
        currency_code="USD", lines=[pr.CartLine(sku=s, quantity=q) for s, q in CART]
    )

    async def call(n: int) -> object:
        return await stub.Quote(request, timeout=10)

    return call


def database_env(prefix: str, url: str, bouncer: PgBouncer | None) -> dict[str, str]:
    if bouncer is None:
        return {f"{prefix}_DATABASE_URL": url}
    through = make_url(url).set(host=bouncer.host, port=bouncer.port)
    return {
        f"{prefix}_DATABASE_URL": through.render_as_string(hide_password=False),
        f"{prefix}_DATABASE_POOLER": "transaction",
    }


def run_path(path: str, bouncer: PgBouncer | None, calls: int, concurrency: int) -> list[Row]:
    rows = []
    with _database() as inventory_url, _database() as pricing_url:
        inventory_db = str(make_url(inventory_url).database)
        pricing_db = str(make_url(pricing_url).database)
        env = database_env("INVENTORY", inventory_url, bouncer)
        with service("inventory", env, inventory_db) as inventory:
            asyncio.run(seed_inventory(inventory.address))
            pricing_env = database_env("PRICING", pricing_url, bouncer)
            pricing_env["PRICING_INVENTORY_TARGET"] = inventory.address
            with service("pricing", pricing_env, pricing_db) as pricing:
                asyncio.run(seed_prices(pricing.address))
                for name, make_call, n in (
                    ("CheckAvailability (3 lines)", availability_call, calls),
                    ("BatchGetStockLevels (5 SKUs)", levels_call, calls),
                    ("ReserveStock (1 line)", reserve_call, calls // 2),
                    ("Quote (3 lines)", quote_call, calls // 2),
                ):
                    targets = [inventory] if name != "Quote (3 lines)" else [pricing, inventory]
                    row = asyncio.run(
                        measure(
                            name,
                            path,
                            targets,
                            make_call,
                            n,
                            concurrency,
                            bouncer.pid if bouncer else None,
                        )
                    )
                    print(row.render(), flush=True)
                    rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__)
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pool-size", type=int, default=8, help="PgBouncer server connections")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
    print("| call | path | calls/s | service CPU ms/call | DB backend CPU ms/call | commits/call |")
    print("| --- | --- | --- | --- | --- | --- |")
    run_path("direct", None, args.calls, args.concurrency)
    with running_pgbouncer(admin_url(), pool_size=args.pool_size) as bouncer:
        run_path("pgbouncer", bouncer, args.calls, args.concurrency)
    print(f"load after: {os.getloadavg()[0]:.1f} (1 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
