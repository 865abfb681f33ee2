"""A bare echo service on raw bytes: the baseline for benchmarks and a target for
fault-injection tests. It needs no proto: requests and responses are the bytes
sent, with identity (de)serializers.

Metadata ``echo-delay-ms`` makes it sleep before answering; ``echo-status``
(a grpc.StatusCode name) makes it fail with that code instead.
"""

from __future__ import annotations

import asyncio

import grpc

SERVICE_NAME = "stockroom.testing.Echo"
METHOD = f"/{SERVICE_NAME}/Echo"


async def _echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    metadata = dict(context.invocation_metadata() or ())
    delay_ms = _text(metadata.get("echo-delay-ms"))
    if delay_ms:
        await asyncio.sleep(int(delay_ms) / 1000)
    status = _text(metadata.get("echo-status"))
    if status:
        await context.abort(grpc.StatusCode[status], f"echo asked to fail with {status}")
    return request


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return value or ""


def add_echo_to_server(server: grpc.aio.Server) -> None:
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(_echo)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE_NAME, {"Echo": handler}),)
    )


def echo_callable(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(METHOD)
