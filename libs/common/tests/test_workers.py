"""The workers supervisor with real processes: a killed worker comes back, SIGTERM drains
every worker, a worker that ignores it is killed, a crash loop stops the supervisor."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from stockroom.common.server._workers import WORKER_INDEX_ENV, Supervisor, worker_index
from stockroom.common.testing import eventually, process_alive

# A worker that serves nothing: it exits 0 on SIGTERM, like a server that drained.
WORKER = [
    sys.executable,
    "-c",
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
    "for _ in range(600):\n"
    "    time.sleep(0.1)\n",
]


def stubborn(ready: Path) -> list[str]:
    """A worker that ignores SIGTERM (a drain that never ends); ``ready`` appears once it does."""
    return [
        sys.executable,
        "-c",
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "pathlib.Path(sys.argv[1]).touch()\n"
        "for _ in range(600):\n"
        "    time.sleep(0.1)\n",
        str(ready),
    ]


async def test_a_killed_worker_is_started_again_and_sigterm_drains_them_all() -> None:
    # A worker still starting when SIGTERM comes dies of it: that counts as a clean stop.
    supervisor = Supervisor(WORKER, 2, drain_timeout_s=30, restart_delay_s=0.01)
    running = asyncio.ensure_future(supervisor.run())
    await eventually(lambda: len(supervisor.worker_pids) == 2)
    first = supervisor.worker_pids

    os.kill(first[0], signal.SIGKILL)
    await eventually(lambda: supervisor.worker_pids.get(0) not in (None, first[0]))
    second = supervisor.worker_pids
    assert second[1] == first[1]  # the other worker was left alone

    os.kill(os.getpid(), signal.SIGTERM)  # what the orchestrator sends the supervisor
    async with asyncio.timeout(60):
        assert await running == 0
    assert not any(process_alive(pid) for pid in (*second.values(), first[1]))
    assert supervisor.worker_pids == {}


async def test_a_worker_that_outlives_the_drain_timeout_is_killed(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    supervisor = Supervisor(stubborn(ready), 1, drain_timeout_s=0.5)
    running = asyncio.ensure_future(supervisor.run())
    await eventually(ready.exists)
    (pid,) = supervisor.worker_pids.values()

    supervisor.stop()
    async with asyncio.timeout(60):
        assert await running == 1  # it did not exit cleanly
    assert not process_alive(pid)


async def test_a_worker_that_keeps_dying_young_stops_the_supervisor() -> None:
    crashing = [sys.executable, "-c", "raise SystemExit(3)"]
    supervisor = Supervisor(
        crashing, 2, drain_timeout_s=5, restart_delay_s=0.01, max_quick_failures=3
    )
    async with asyncio.timeout(60):
        assert await supervisor.run() == 1
    assert supervisor.worker_pids == {}


def test_each_worker_knows_its_slot() -> None:
    assert worker_index({}) == 0
    assert worker_index({WORKER_INDEX_ENV: "3"}) == 3


def test_a_supervisor_needs_at_least_one_worker() -> None:
    with pytest.raises(ValueError, match="count"):
        Supervisor(WORKER, 0, drain_timeout_s=1)
