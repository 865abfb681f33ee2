"""The circuit breaker on the wire: each unary attempt asks its downstream's breaker first.

An open breaker fails the attempt at once with UNAVAILABLE, ErrorInfo reason
``CIRCUIT_OPEN`` and a RetryInfo saying when probes resume; the caller sees a
``stockroom.common.errors.Unavailable`` whose ``reason`` it can branch on.
Every finished attempt reports its status and duration to the breaker.
"""

from __future__ import annotations

import time
from typing import Any

import grpc

from stockroom.common.client import _spans as spans
from stockroom.common.client._breaker import CircuitBreaker
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
            breaker.record(permit, error.code, time.monotonic() - started)
        except grpc.aio.AioRpcError as error:
            breaker.record(permit, error.code().name, time.monotonic() - started)
        except BaseException:
            breaker.release(permit)  # cancelled by the caller: no verdict on the downstream
            raise
        else:
            breaker.record(permit, "OK", time.monotonic() - started)
        return call
