"""Client side: one call, ``connect(target)``, gives a channel whose calls raise typed errors.

Code that calls another service writes::

    channel = connect("inventory:50051")
    stub = InventoryServiceStub(channel)
    try:
        await stub.CheckAvailability(request)
    except FailedPrecondition as error:
        ...  # error.reason, error.precondition_violations

and gets the same ``StockroomError`` classes the server raised, rebuilt from
the status details (``stockroom.common.status``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from stockroom.common.status import error_from_rpc_error

# Keepalive for long-lived service-to-service channels: a ping every 30 s keeps
# NATs and load balancers (which drop idle flows after ~60 s) from silently
# killing the connection.
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Retries are ours (policy-aware, budgeted); grpc-core's own must stay off
    # or attempts multiply.
    ("grpc.enable_retries", 0),
)


class TypedErrorInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Raises the ``StockroomError`` a failed unary call carries instead of ``AioRpcError``."""

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        call = await continuation(client_call_details, request)
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            raise error_from_rpc_error(error) from error


def connect(
    target: str,
    *,
    credentials: grpc.ChannelCredentials | None = None,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """Open a channel to ``target`` with the Stockroom client interceptors."""
    chain = [*interceptors, TypedErrorInterceptor()]
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=chain)
    return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS, interceptors=chain)
