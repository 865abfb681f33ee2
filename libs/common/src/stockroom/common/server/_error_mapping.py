"""Server side of the error model: domain errors out as rich statuses, bugs as bare INTERNAL.

Servicers raise ``StockroomError`` subclasses and nothing else; this
interceptor turns them into their gRPC status with details, once, for every
method. Anything else is a bug: the caller gets INTERNAL with a message that
names only the trace id, and the server logs the exception with its stack.

A request body that does not decode is the caller's mistake, not a bug: grpc
would answer UNKNOWN and log a traceback per call, so the deserializer of every
request is wrapped and such a call ends with INVALID_ARGUMENT (reason
``UNDECODABLE_REQUEST``) and no log line. In a request stream the bad message
is refused where the servicer reads it: the messages before it were handled.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn, cast

import grpc
from opentelemetry import trace

from stockroom.common._interceptors import AroundCallInterceptor, Context, Continuation
from stockroom.common.errors._errors import Internal, InvalidArgument, StockroomError
from stockroom.common.errors._status import DETAILS_TRAILER, to_rpc_status
from stockroom.common.errors._translate import translate

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.server")


class ErrorMappingInterceptor(AroundCallInterceptor):
    """Maps exceptions escaping a servicer to gRPC statuses (outermost interceptor)."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await super().intercept_service(continuation, handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        cache: dict[int, grpc.RpcMethodHandler[Any, Any]] = self.__dict__.setdefault(
            "_decoding_handlers", {}
        )
        wrapped = cache.get(id(handler))
        if wrapped is None:
            wrapped = cache[id(handler)] = refusing_undecodable(handler)
        return wrapped

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        try:
            yield
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise  # the servicer already chose a status, or the caller went away
        except Exception as error:
            await abort_with(context, chosen_error(method, error))


def chosen_error(method: str, error: Exception) -> StockroomError:
    """The error the caller gets for ``error`` escaping ``method``; logs the ones that are bugs.

    ``GrpcServer``'s composed stack (``server._stack``) calls this and ``abort_with``.
    """
    if isinstance(error, StockroomError):
        if error.code == "INTERNAL":
            logger.error("internal error", extra={"method": method}, exc_info=error)
        return error
    translated = translate(error)
    if translated is not None:
        return translated  # e.g. the database is down: no bug, no traceback (logged per outage)
    logger.error("unexpected error", extra={"method": method}, exc_info=error)
    return _opaque_internal()


async def abort_with(context: Context, error: StockroomError) -> NoReturn:
    """End the call with ``error``'s status, keeping the trailers the servicer already set
    (``abort`` would replace them with the details trailer alone)."""
    status = to_rpc_status(error)
    kept = tuple(
        (key, value) for key, value in context.trailing_metadata() or () if key != DETAILS_TRAILER
    )
    await context.abort(status.code, status.details, (*kept, *status.trailing_metadata))
    raise AssertionError("context.abort returned")  # it always raises AbortError


class _Undecodable:
    """Stands for a request body the deserializer refused."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def refusing_undecodable(
    handler: grpc.RpcMethodHandler[Any, Any],
) -> grpc.RpcMethodHandler[Any, Any]:
    deserializer = handler.request_deserializer
    if deserializer is None:
        return handler  # raw bytes: nothing to refuse here

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:  # any decoding failure is the caller's bad body
            return _Undecodable(error)

    if handler.request_streaming:
        return _refusing_undecodable_stream(handler, deserialize)
    if handler.unary_unary is not None:
        behaviour: Any = handler.unary_unary

        async def unary(request: Any, context: Context) -> Any:
            if isinstance(request, _Undecodable):
                await abort_with(context, _undecodable())
            return await behaviour(request, context)

        replaced = cast("Any", handler)._replace(
            unary_unary=unary, request_deserializer=deserialize
        )
    else:
        stream: Any = handler.unary_stream
        assert stream is not None

        async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            if isinstance(request, _Undecodable):
                await abort_with(context, _undecodable())
            result: Any = stream(request, context)
            if inspect.isasyncgen(result):
                async for response in result:
                    yield response
            else:  # a servicer that writes with context.write
                await result

        replaced = cast("Any", handler)._replace(
            unary_stream=unary_stream, request_deserializer=deserialize
        )
    return cast("grpc.RpcMethodHandler[Any, Any]", replaced)


async def _decoded(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The request stream, ending with INVALID_ARGUMENT at the first message that did not
    decode (raised where the servicer reads it, so it ends the call as any refusal does)."""
    async for request in requests:
        if isinstance(request, _Undecodable):
            raise _undecodable()
        yield request


def _refusing_undecodable_stream(
    handler: grpc.RpcMethodHandler[Any, Any], deserialize: Any
) -> grpc.RpcMethodHandler[Any, Any]:
    if handler.stream_unary is not None:
        unary: Any = handler.stream_unary

        async def stream_unary(requests: AsyncIterator[Any], context: Context) -> Any:
            return await unary(_decoded(requests), context)

        replaced = cast("Any", handler)._replace(
            stream_unary=stream_unary, request_deserializer=deserialize
        )
    else:
        stream: Any = handler.stream_stream
        assert stream is not None

        async def stream_stream(
            requests: AsyncIterator[Any], context: Context
        ) -> AsyncIterator[Any]:
            result: Any = stream(_decoded(requests), context)
            if inspect.isasyncgen(result):
                async for response in result:
                    yield response
            else:  # a servicer that writes with context.write
                await result

        replaced = cast("Any", handler)._replace(
            stream_stream=stream_stream, request_deserializer=deserialize
        )
    return cast("grpc.RpcMethodHandler[Any, Any]", replaced)


def _undecodable() -> InvalidArgument:
    return InvalidArgument(
        "the request body is not a valid message of this method's request type",
        reason="UNDECODABLE_REQUEST",
    )


def _opaque_internal() -> Internal:
    """An INTERNAL error that tells the caller how to find the log, and nothing else."""
    span_context = trace.get_current_span().get_span_context()
    trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else ""
    message = "internal error" + (f" (trace_id {trace_id})" if trace_id else "")
    return Internal(message, reason="INTERNAL", metadata={"trace_id": trace_id} if trace_id else {})
