"""Faults injected inside a real server, for tests: fail or slow down the next calls.

Add a ``FaultInjector`` to the server under test
(``GrpcServer(..., interceptors=[faults])``); it runs inside the error
mapping, so the errors it raises reach the client as rich statuses (a
``ResourceExhausted`` with ``retry_after_s`` arrives with RetryInfo)::

    faults.fail_next(2, Unavailable("injected"))   # then calls succeed again
    faults.delay_s = 0.3
    assert faults.calls == 3
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from stockroom.common._interceptors import AroundCallInterceptor, Context
from stockroom.common.errors._errors import StockroomError


class FaultInjector(AroundCallInterceptor):
    """Counts the calls to ``methods`` (all but health and reflection by default) and
    fails or delays them on demand."""

    def __init__(self, methods: Collection[str] | None = None) -> None:
        self._methods = None if methods is None else frozenset(methods)
        self.calls = 0
        self.delay_s = 0.0
        self._error: StockroomError | None = None
        self._failures_left = 0

    def applies_to(self, method: str) -> bool:
        if self._methods is not None:
            return method in self._methods
        return not method.startswith(("/grpc.health.v1.Health/", "/grpc.reflection."))

    def fail_next(self, count: int, error: StockroomError) -> None:
        self._error, self._failures_left = error, count

    def fail_all(self, error: StockroomError) -> None:
        self.fail_next(2**62, error)

    def heal(self) -> None:
        self._error, self._failures_left, self.delay_s = None, 0, 0.0

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        self.calls += 1
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        if self._error is not None and self._failures_left > 0:
            self._failures_left -= 1
            raise copy.copy(self._error)
        yield
