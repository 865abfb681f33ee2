"""The ten-line client and server the README opens with run as written.

The server example runs in its own process (it serves until SIGTERM); the
client example then calls it, and SIGTERM must drain the server cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import sys
import textwrap
from pathlib import Path

import grpc

from stockroom.common.server import SERVING, check_health
from stockroom.inventory.v1 import inventory_pb2 as pb

README = Path(__file__).parents[1] / "README.md"
SERVER_MAIN = """
import asyncio
from stockroom.inventory.v1 import inventory_pb2 as pb

class Inventory(rpc.InventoryServiceServicer):
    async def CheckAvailability(self, request, context):
        line = pb.LineAvailability(sku=request.lines[0].sku, available=7)
        return pb.CheckAvailabilityResponse(lines=[line])

asyncio.run(main(Inventory()))
"""


def examples() -> tuple[str, str]:
    client, server = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[:2]
    return client, server


def test_the_readme_opens_with_a_ten_line_client_and_server() -> None:
    client, server = examples()

    assert len(client.splitlines()) <= 11
    assert len(server.splitlines()) <= 11


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_the_readme_client_calls_the_readme_server() -> None:
    client, server = examples()
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        server + SERVER_MAIN,
        env={**os.environ, "INVENTORY_PORT": str(port), "OTEL_SDK_DISABLED": "true"},
    )
    try:
        address = f"127.0.0.1:{port}"
        async with grpc.aio.insecure_channel(address) as channel:
            for _ in range(600):  # at most about a minute on a loaded machine
                try:
                    if await check_health(channel) == SERVING:
                        break
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.1)
        imports, body = client.replace("inventory:50051", address).split("\n\n", 1)
        as_function = f"{imports}\nasync def run(lines, logger):\n{textwrap.indent(body, '    ')}"
        namespace: dict[str, object] = {}
        exec(compile(as_function + "    return reply\n", "README.md", "exec"), namespace)
        lines = [pb.AvailabilityLine(sku="MUG", quantity=1)]
        reply = await namespace["run"](lines, logging.getLogger("readme"))  # type: ignore[operator]

        assert reply.lines[0].available == 7
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=60) == 0
