"""``INVENTORY_WORKERS=2``: two inventory processes on one port under a supervisor, as an
operator runs it; kill -9 one and it is back, SIGTERM the supervisor and all stop cleanly."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from stockroom.cli.processes import start_service, wait_until_serving
from stockroom.common.client import connect
from stockroom.common.testing import eventually, process_alive
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def started_workers(path: Path) -> list[dict[str, Any]]:
    return [
        line
        for line in log_lines(path)
        if line["msg"] == "worker started" and line["logger"] == "stockroom.common.server"
    ]


def servers_started(path: Path) -> int:
    return sum(1 for line in log_lines(path) if line["msg"] == "serving")


async def check_availability(address: str) -> inventory_pb2.CheckAvailabilityResponse:
    async with connect(address) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        return await stub.CheckAvailability(
            inventory_pb2.CheckAvailabilityRequest(
                lines=[inventory_pb2.AvailabilityLine(sku="MUG", quantity=1)]
            ),
            timeout=10,
        )


@pytest.mark.slow
async def test_two_workers_serve_one_port_a_killed_one_comes_back_and_sigterm_stops_all(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    log_path = tmp_path / "inventory.log"
    env = {
        "INVENTORY_PORT": str(unused_tcp_port),
        "INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}",
        "INVENTORY_WORKERS": "2",
    }
    with log_path.open("wb") as log:
        supervisor = await start_service(
            "inventory", f"127.0.0.1:{unused_tcp_port}", env, log=log.fileno()
        )
    try:
        await wait_until_serving(supervisor, timeout_s=60)
        await eventually(lambda: servers_started(log_path) == 2, attempts=3000)  # one port
        first = {line["worker"]: line["pid"] for line in started_workers(log_path)}
        assert sorted(first) == [0, 1]
        await check_availability(supervisor.address)

        os.kill(first[0], signal.SIGKILL)
        await eventually(
            lambda: len(started_workers(log_path)) == 3 and servers_started(log_path) == 3,
            attempts=3000,
        )
        (restarted,) = [line for line in started_workers(log_path)[2:]]
        assert restarted["worker"] == 0
        assert restarted["pid"] != first[0]
        assert process_alive(first[1])  # the other worker served on
        answer = await check_availability(supervisor.address)
        assert answer.lines[0].sku == "MUG"

        code = await supervisor.stop(timeout_s=60)  # SIGTERM, as the orchestrator sends it
    finally:
        if supervisor.process.returncode is None:
            supervisor.process.kill()
            await supervisor.process.wait()

    assert code == 0
    (stopped,) = [line for line in log_lines(log_path) if line["msg"] == "workers stopped"]
    assert stopped["exit_codes"] == [0, 0]
    drained = [line for line in log_lines(log_path) if line["msg"] == "stopped"]
    assert len(drained) == 2  # each worker drained as a single server does
    assert not process_alive(first[1])
    assert not process_alive(restarted["pid"])
