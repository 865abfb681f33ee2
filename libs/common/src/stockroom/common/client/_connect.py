"""Client side: one call, ``connect(target, policy)``, gives a channel that calls safely.

Code that calls another service writes::

    channel = connect("inventory:50051")
    stub = InventoryServiceStub(channel)
    try:
        await stub.CheckAvailability(request)
    except FailedPrecondition as error:
        ...  # error.reason, error.precondition_violations

and every unary call on the channel gets a deadline (its own, or what is left
of the one being served), retries when that is safe and affordable, goes
through the downstream's circuit breaker, and fails with the same
``StockroomError`` classes the server raised (``stockroom.common.errors``).
Streams get deadlines and typed errors; they are never retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from stockroom.common.client._downstream import Downstream, register
from stockroom.common.client._policy import Policy
from stockroom.common.client._typed_errors import TypedErrorInterceptor
from stockroom.common.telemetry._client import AttemptCounter, client_interceptors
from stockroom.common.telemetry._providers import GLOBAL_TELEMETRY, Telemetry

__all__ = ["CHANNEL_OPTIONS", "TypedErrorInterceptor", "channel_credentials", "connect"]

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


def connect(
    target: str,
    policy: Policy | None = None,
    *,
    credentials: grpc.ChannelCredentials | None = None,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    telemetry: Telemetry = GLOBAL_TELEMETRY,
) -> grpc.aio.Channel:
    """Open a channel to ``target`` whose calls follow ``policy`` (``Policy()`` by default).

    Each call gets one client span (``stockroom.common.telemetry``),
    outermost, with every attempt, retry and breaker decision on it; its trace
    context travels in the metadata. ``interceptors`` run inside that span and
    outside the resilience chain.
    """
    downstream = Downstream(target, policy or Policy())
    chain = [
        *client_interceptors(telemetry, target),
        *interceptors,
        *downstream.interceptors(),
        AttemptCounter(telemetry),  # innermost: sees each attempt that goes on the wire
    ]
    if credentials is None:
        channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=chain)
    else:
        channel = grpc.aio.secure_channel(
            target, credentials, options=CHANNEL_OPTIONS, interceptors=chain
        )
    register(channel, downstream)
    telemetry.resilience.track_downstream(downstream)
    return channel


def channel_credentials(
    ca_file: str | Path, cert_file: str | Path | None = None, key_file: str | Path | None = None
) -> grpc.ChannelCredentials:
    """TLS trusting ``ca_file``; with a certificate and key, mTLS (the server learns who calls)."""
    return grpc.ssl_channel_credentials(
        root_certificates=Path(ca_file).read_bytes(),
        private_key=Path(key_file).read_bytes() if key_file else None,
        certificate_chain=Path(cert_file).read_bytes() if cert_file else None,
    )
