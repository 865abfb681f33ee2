"""Deadlines that travel: every outbound call gets one, and a server passes its own on.

grpcio does not propagate deadlines (the hook that should is stubbed out), so
the library does it: the server interceptor stores the absolute deadline of
the call being handled in a contextvar, and the client interceptor of every
call made while handling it reads that contextvar and sends at most what
remains, minus a margin for the server's own reply. grpc.aio copies the
context into each call's interceptor task, so nothing has to be passed by hand.

Outside a server (a job, a CLI) ``deadline_scope(timeout_s)`` gives a block of
code one budget for all the calls it makes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from contextvars import ContextVar, Token
from typing import Any

import grpc

from stockroom.common._interceptors import AroundCallInterceptor, Context
from stockroom.common.client import _spans as spans
from stockroom.common.client._policy import Policy
from stockroom.common.errors._errors import DeadlineExceeded

# Absolute deadline (time.monotonic()) of the work the current task is doing, if any.
_deadline_at: ContextVar[float | None] = ContextVar("stockroom_deadline_at", default=None)


def time_remaining_s() -> float | None:
    """Seconds left for the work in progress (None when nobody set a deadline)."""
    deadline_at = _deadline_at.get()
    return None if deadline_at is None else deadline_at - time.monotonic()


@contextmanager
def deadline_scope(timeout_s: float) -> Iterator[None]:
    """Bound every call made inside the block by ``timeout_s`` from now (or less, if an
    enclosing deadline is sooner)."""
    candidate = time.monotonic() + timeout_s
    current = _deadline_at.get()
    token = _deadline_at.set(candidate if current is None else min(current, candidate))
    try:
        yield
    finally:
        _deadline_at.reset(token)


def enter_server_deadline(method: str, context: Context) -> Token[float | None]:
    """Refuse a call that arrived with no time left; publish the deadline of any other to the
    calls it makes. Give the token back to ``leave_server_deadline`` when the call ends."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        spans.add_event(spans.EVENT_DEADLINE_REFUSED, {spans.RPC_METHOD: method})
        raise DeadlineExceeded(
            "the deadline passed before the work started", reason="DEADLINE_PASSED"
        )
    return _deadline_at.set(None if remaining is None else time.monotonic() + remaining)


def leave_server_deadline(token: Token[float | None]) -> None:
    # A streaming handler's generator may be closed from another context (garbage
    # collection), where the token is not valid; that context never saw the value.
    with suppress(ValueError):
        _deadline_at.reset(token)


class ServerDeadlineInterceptor(AroundCallInterceptor):
    """Refuses calls that arrive with no time left and publishes the deadline of the rest.

    A call whose deadline has passed has already failed for its caller; doing
    its work anyway only takes capacity from calls that can still succeed.
    ``GrpcServer`` runs the same two steps inside its composed stack
    (``server._stack``); this interceptor is for servers built without it.
    """

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        token = enter_server_deadline(method, context)
        try:
            yield
        finally:
            leave_server_deadline(token)


def outbound_timeout(
    method: str, requested_s: float | None, default_s: float, margin_s: float
) -> float:
    """The timeout to send with a call: the caller's (or the method's default), cut to what
    remains of the deadline being served minus ``margin_s``.

    Raises ``DeadlineExceeded`` when nothing is left: the call could not succeed.
    """
    timeout_s, source = (
        (requested_s, "caller") if requested_s is not None else (default_s, "default")
    )
    remaining = time_remaining_s()
    if remaining is not None:
        budget = remaining - margin_s
        if budget <= 0:
            spans.add_event(spans.EVENT_DEADLINE_REFUSED, {spans.RPC_METHOD: method})
            raise DeadlineExceeded(
                f"no time left to call {method}: the deadline being served has passed",
                reason="DEADLINE_PASSED",
            )
        if budget < timeout_s:
            timeout_s, source = budget, "propagated"
    spans.set_attributes(
        {spans.DEADLINE_TIMEOUT_MS: round(timeout_s * 1000), spans.DEADLINE_SOURCE: source}
    )
    return timeout_s


def method_name(details: grpc.aio.ClientCallDetails) -> str:
    method: Any = details.method
    return method.decode() if isinstance(method, bytes) else str(method)


def with_timeout(
    details: grpc.aio.ClientCallDetails, timeout_s: float
) -> grpc.aio.ClientCallDetails:
    return grpc.aio.ClientCallDetails(
        details.method, timeout_s, details.metadata, details.credentials, details.wait_for_ready
    )


class _DeadlineSetter:
    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        method = method_name(details)
        timeout_s = outbound_timeout(
            method,
            details.timeout,
            self._policy.timeout_for(method),
            self._policy.deadline_margin_s,
        )
        return with_timeout(details, timeout_s)


class DeadlineInterceptor(_DeadlineSetter, grpc.aio.UnaryUnaryClientInterceptor):
    """Gives every unary call a deadline (outermost of the resilience interceptors)."""

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class DeadlineUnaryStreamInterceptor(_DeadlineSetter, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class DeadlineStreamUnaryInterceptor(_DeadlineSetter, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), requests)


class DeadlineStreamStreamInterceptor(_DeadlineSetter, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), requests)


def deadline_interceptors(policy: Policy) -> list[grpc.aio.ClientInterceptor]:
    return [
        DeadlineInterceptor(policy),
        DeadlineUnaryStreamInterceptor(policy),
        DeadlineStreamUnaryInterceptor(policy),
        DeadlineStreamStreamInterceptor(policy),
    ]
