"""Readiness that tells the truth: the standard gRPC health service, driven by real checks.

A ``ReadinessMonitor`` runs the service's checks (typically "the database
answers") every few seconds and flips every registered service between
SERVING and NOT_SERVING, so load balancers and Kubernetes stop sending traffic
to a replica whose database is gone and resume when it returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.server")

ReadinessCheck = Callable[[], Awaitable[None]]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ReadinessMonitor:
    """Polls readiness checks and mirrors the result into the health service."""

    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        service_names: Sequence[str],
        checks: Sequence[ReadinessCheck],
        *,
        interval_s: float = 2.0,
        check_timeout_s: float = 1.0,
    ) -> None:
        self._servicer = servicer
        self._service_names = ("", *service_names)
        self._checks = tuple(checks)
        self._interval_s = interval_s
        self._check_timeout_s = check_timeout_s
        self._task: asyncio.Task[None] | None = None
        self.serving: bool | None = None

    async def check_once(self) -> bool:
        """Run every check now and publish the result; True when all passed."""
        ready = True
        for check in self._checks:
            try:
                async with asyncio.timeout(self._check_timeout_s):
                    await check()
            except Exception as exc:  # any failure means "not ready"; log why
                ready = False
                if self.serving is not False:
                    logger.warning("readiness check failed", extra={"error": repr(exc)})
                break
        await self._publish(ready)
        return ready

    async def _publish(self, ready: bool) -> None:
        if ready == self.serving:
            return
        status = SERVING if ready else NOT_SERVING
        for name in self._service_names:
            await self._servicer.set(name, status)
        if self.serving is not None:
            logger.info("health changed", extra={"serving": ready})
        self.serving = ready

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="readiness-monitor")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check_once()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


async def check_health(channel: grpc.aio.Channel, service: str = "", timeout_s: float = 2.0) -> int:
    """Ask a server's standard health service about ``service`` ("" means the whole server).

    A typed way in: the typeshed stubs for grpcio-health-checking declare no
    methods on ``HealthStub``.
    """
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    response = await check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
    return int(response.status)
