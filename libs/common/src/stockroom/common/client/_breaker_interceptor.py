"""The circuit breaker on the wire: each unary attempt asks its downstream's breaker first.

An open breaker fails the attempt at once with UNAVAILABLE, ErrorInfo reason
``CIRCUIT_OPEN`` and a RetryInfo saying when probes resume; the caller sees a
``stockroom.common.errors.Unavailable`` whose ``reason`` it can branch on.
Every finished attempt reports its status and duration to the breaker, with
two exceptions that say nothing about the downstream's health:

- RESOURCE_EXHAUSTED without RetryInfo: a server that sheds load says when to
  come back, so an exhaustion without that pushback is a limit on our side
  (grpc's own metadata-size limit) or a quota, not a sick server;
- the end of the whole incoming request (its deadline passed, or its caller
  went away) while the attempt was in flight: the attempt was abandoned, not
  answered. An attempt cut short by a timeout of our own while the incoming
  request still had time is a downstream that was too slow: a failure.
"""

from __future__ import annotations

import time
from typing import Any

import grpc

from stockroom.common.client import _spans as spans
from stockroom.common.client._breaker import CircuitBreaker, Permit
from stockroom.common.client._deadlines import cut_by_own_timeout
from stockroom.common.client._retries import CIRCUIT_OPEN
from stockroom.common.errors._errors import StockroomError, Unavailable


class CircuitBreakerInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Guards each attempt (inside the retry interceptor) with ``breaker``."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        breaker = self._breaker
        permit = breaker.acquire()
        state = breaker.state.value
        spans.set_attributes({spans.BREAKER_STATE: state})
        if permit is None:
            spans.add_event(
                spans.EVENT_BREAKER_REJECTED,
                {spans.BREAKER_TARGET: breaker.name, spans.BREAKER_STATE: state},
            )
            raise Unavailable(
                f"circuit breaker for {breaker.name or 'this downstream'} is {state}: "
                "failing fast without calling",
                reason=CIRCUIT_OPEN,
                metadata={"target": breaker.name, "state": state},
                retry_after_s=breaker.retry_after_s(),
            )
        started = time.monotonic()
        try:
            call = await continuation(client_call_details, request)
        except BaseException:
            breaker.release(permit)
            raise
        try:
            await call
        except StockroomError as error:
            self._judge(permit, error.code, error.retry_after_s is not None, started)
        except grpc.aio.AioRpcError as error:
            self._judge(permit, error.code().name, False, started)
        except BaseException:
            self._judge_abandoned(permit, started)
            raise
        else:
            breaker.record(permit, "OK", time.monotonic() - started)
        return call

    def _judge(self, permit: Permit, code: str, pushback: bool, started: float) -> None:
        if code == "RESOURCE_EXHAUSTED" and not pushback:
            self._breaker.release(permit)  # a local limit or a quota: not the server's health
            return
        self._breaker.record(permit, code, time.monotonic() - started)

    def _judge_abandoned(self, permit: Permit, started: float) -> None:
        """The attempt was cancelled before it ended: by the end of the incoming request (no
        verdict), or by a timeout of ours while time was left (too slow: a failure)."""
        if cut_by_own_timeout():
            self._breaker.record(permit, "DEADLINE_EXCEEDED", time.monotonic() - started)
        else:
            self._breaker.release(permit)
