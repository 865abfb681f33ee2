"""Client side of the error model: failed calls raise the ``StockroomError`` the server raised.

The interceptors hand back the call itself, wrapped, rather than its
response: ``initial_metadata()``, ``trailing_metadata()``, ``code()`` and
``details()`` keep working for the caller, and only awaiting or iterating the
call turns an ``AioRpcError`` into the typed error rebuilt from the
``grpc-status-details-bin`` trailer (``stockroom.common.errors``). The
original ``AioRpcError`` stays reachable as ``error.__cause__``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

import grpc
from grpc.aio import _base_call

from stockroom.common.errors._status import error_from_rpc_error


class _DelegatingCall:
    """Everything a call offers, passed through to the real one."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __getattr__(self, name: str) -> Any:  # private flags grpc.aio reads on the call
        if name == "_call":
            raise AttributeError(name)
        return getattr(self._call, name)

    def cancel(self) -> bool:
        return bool(self._call.cancel())

    def cancelled(self) -> bool:
        return bool(self._call.cancelled())

    def done(self) -> bool:
        return bool(self._call.done())

    def time_remaining(self) -> float | None:
        remaining: float | None = self._call.time_remaining()
        return remaining

    def add_done_callback(self, callback: Any) -> None:
        self._call.add_done_callback(callback)

    async def initial_metadata(self) -> Any:
        return await self._call.initial_metadata()

    async def trailing_metadata(self) -> Any:
        return await self._call.trailing_metadata()

    async def code(self) -> grpc.StatusCode:
        code: grpc.StatusCode = await self._call.code()
        return code

    async def details(self) -> str:
        return str(await self._call.details())

    async def wait_for_connection(self) -> None:
        await self._call.wait_for_connection()


class _TypedResponse(_DelegatingCall):
    def __await__(self) -> Generator[Any, None, Any]:
        try:
            response = yield from self._call.__await__()
        except grpc.aio.AioRpcError as error:
            raise error_from_rpc_error(error) from error
        return response


class _TypedResponses(_DelegatingCall):
    def __aiter__(self) -> AsyncIterator[Any]:
        return self._responses()

    async def _responses(self) -> AsyncIterator[Any]:
        try:
            async for response in self._call:
                yield response
        except grpc.aio.AioRpcError as error:
            raise error_from_rpc_error(error) from error

    async def read(self) -> Any:
        try:
            return await self._call.read()
        except grpc.aio.AioRpcError as error:
            raise error_from_rpc_error(error) from error


class _Writes(_DelegatingCall):
    async def write(self, request: Any) -> None:
        await self._call.write(request)

    async def done_writing(self) -> None:
        await self._call.done_writing()


class TypedUnaryUnaryCall(_TypedResponse, _base_call.UnaryUnaryCall[Any, Any]):
    pass


class TypedUnaryStreamCall(_TypedResponses, _base_call.UnaryStreamCall[Any, Any]):
    pass


class TypedStreamUnaryCall(_TypedResponse, _Writes, _base_call.StreamUnaryCall[Any, Any]):
    pass


class TypedStreamStreamCall(_TypedResponses, _Writes, _base_call.StreamStreamCall[Any, Any]):
    pass


class TypedErrorInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Unary calls raise the ``StockroomError`` a failure carries instead of ``AioRpcError``."""

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return TypedUnaryUnaryCall(await continuation(client_call_details, request))


class TypedErrorUnaryStreamInterceptor(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return TypedUnaryStreamCall(await continuation(client_call_details, request))


class TypedErrorStreamUnaryInterceptor(grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return TypedStreamUnaryCall(await continuation(client_call_details, request_iterator))


class TypedErrorStreamStreamInterceptor(grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return TypedStreamStreamCall(await continuation(client_call_details, request_iterator))


def typed_error_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """One interceptor per RPC shape (grpc.aio files each interceptor under one shape only)."""
    return [
        TypedErrorInterceptor(),
        TypedErrorUnaryStreamInterceptor(),
        TypedErrorStreamUnaryInterceptor(),
        TypedErrorStreamStreamInterceptor(),
    ]
