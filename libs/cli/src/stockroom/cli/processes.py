"""Start the services as child processes and wait until their health says SERVING."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import grpc

from stockroom.common.server import SERVING, check_health


@dataclass
class ServiceProcess:
    name: str
    address: str
    process: asyncio.subprocess.Process

    async def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM (the services drain on it), then SIGKILL if it takes too long."""
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout_s)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0


async def start_service(
    name: str, address: str, env: Mapping[str, str], *, log: int | None = None
) -> ServiceProcess:
    """Run ``python -m stockroom.<name>`` with ``env`` added to ours."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"stockroom.{name}",
        env={**os.environ, **env},
        stdout=log,
        stderr=log,
    )
    return ServiceProcess(name, address, process)


async def wait_until_serving(service: ServiceProcess, timeout_s: float = 30.0) -> None:
    """Poll the standard health service until SERVING; fail if the process exits first."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + timeout_s
    async with grpc.aio.insecure_channel(service.address) as channel:
        while loop.time() < give_up_at:
            if service.process.returncode is not None:
                raise RuntimeError(f"{service.name} exited with {service.process.returncode}")
            try:
                if await check_health(channel, timeout_s=1) == SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{service.name} was not SERVING at {service.address} after {timeout_s} s")
