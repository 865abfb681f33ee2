"""Load shedding: past a fixed number of calls in progress, answer RESOURCE_EXHAUSTED at once.

A server that queues without bound under overload answers every call late,
so every caller times out; one that refuses the excess answers most calls on
time and tells the rest, with RetryInfo, when to come back (clients made
with ``connect`` honour it, within their retry budget). Health checks and
reflection are never shed: an overloaded replica is still alive, and an
orchestrator that saw failing health checks would restart it.

grpcio's own ``maximum_concurrent_rpcs`` would shed health checks too and
sends no RetryInfo, hence this interceptor.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from stockroom.common._interceptors import AroundCallInterceptor, Context
from stockroom.common.client._listeners import Listeners
from stockroom.common.errors._errors import ResourceExhausted

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.server")

NEVER_SHED = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class LoadShedder(AroundCallInterceptor):
    """Admits at most ``max_in_flight`` calls at once; ``in_flight`` and ``shed_total``
    are there for metrics to read, ``on_shed`` to count per method."""

    def __init__(self, max_in_flight: int, *, retry_after_s: float = 0.1) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.shed_total = 0
        self.on_shed: Listeners[str] = Listeners()
        self._shedding = False

    def applies_to(self, method: str) -> bool:
        return not method.startswith(NEVER_SHED)

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        self.admit(method)
        try:
            yield
        finally:
            self.release()

    def admit(self, method: str) -> None:
        """Count a call in, or refuse it with ``ResourceExhausted``; ``release`` when it ends.

        ``GrpcServer``'s composed stack (``server._stack``) calls these two directly.
        """
        if self.in_flight >= self.max_in_flight:
            self._shed(method)
        if self._shedding:
            self._shedding = False
            logger.info("load shedding stopped", extra={"shed_total": self.shed_total})
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1

    def _shed(self, method: str) -> None:
        self.shed_total += 1
        if not self._shedding:
            self._shedding = True
            logger.warning(
                "load shedding started",
                extra={"in_flight": self.in_flight, "max_in_flight": self.max_in_flight},
            )
        self.on_shed.emit(method)
        raise ResourceExhausted(
            "the server is at capacity; retry after the delay in RetryInfo",
            reason="OVERLOADED",
            retry_after_s=self.retry_after_s,
        )
