"""Starting a service as an operator would: a bad setting, a database that is not there yet.

Both services start through the same entry point (``stockroom.common.server.run_main``),
so inventory stands for both here.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

import pytest

pytestmark = pytest.mark.slow


def service_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVENTORY_", "OTEL_"))}
    env.update(settings)
    return env


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_bad_setting_ends_with_one_line_naming_the_variable() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stockroom.inventory",
        "serve",
        env=service_env(INVENTORY_PORT="abc"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 2
    lines = [line for line in (out + err).decode().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "INVENTORY_PORT" in lines[0]
    assert "Traceback" not in lines[0]
    assert json.loads(lines[0])["level"] == "ERROR"


async def test_startup_retries_the_database_with_backoff_in_json_lines() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/absent"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stockroom.inventory",
        env=service_env(INVENTORY_PORT="0", INVENTORY_DATABASE_URL=url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    retries: list[dict[str, object]] = []
    try:
        for _ in range(200):  # bounded: three retries come within a few seconds
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            if not line:
                break
            record = json.loads(line)  # every line is JSON, none a traceback
            if record.get("msg") == "database not reachable at startup; retrying":
                retries.append(record)
            if len(retries) == 3:
                break
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()

    assert [r["attempt"] for r in retries] == [1, 2, 3]
    pauses = [float(str(r["retry_in_s"])) for r in retries]
    assert pauses[0] < pauses[1] < pauses[2], pauses  # backing off, not hammering
    assert all(r["level"] == "WARNING" for r in retries)
