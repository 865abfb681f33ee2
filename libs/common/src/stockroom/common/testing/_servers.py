"""Real servers on loopback for tests: start one, hand out its address, drain it after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from stockroom.common.server._grpc_server import GrpcServer


@asynccontextmanager
async def serving(server: GrpcServer | Awaitable[GrpcServer]) -> AsyncIterator[str]:
    """Start ``server`` (built with port 0), yield ``host:port``, stop it afterwards."""
    running = server if isinstance(server, GrpcServer) else await server
    port = await running.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await running.stop(grace_s=0)
