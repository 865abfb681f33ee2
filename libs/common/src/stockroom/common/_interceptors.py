"""A base for ``grpc.aio`` server interceptors that act *around* each call.

grpc.aio server interceptors only see the method name before the handler is
found; to act on the call itself (its context, its deadline, its outcome) an
interceptor has to rebuild the method handler around the servicer's
behaviour, differently for each of the four RPC shapes, and differently again
for response streams written by an async generator or by ``context.write``.
That plumbing lives here once; each concrete interceptor (errors, deadlines,
load shedding) only writes ``around``: an async context manager entered before
the servicer runs and exited with whatever it raised.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

import grpc

Context = grpc.aio.ServicerContext[Any, Any]
Continuation = Callable[
    [grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]
]


class AroundCallInterceptor(grpc.aio.ServerInterceptor):
    """Runs every call of every method inside ``self.around(method, context)``."""

    def around(self, method: str, context: Context) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError

    def applies_to(self, method: str) -> bool:
        """Override to leave some methods (e.g. health checks) alone."""
        return True

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None:
            return cast("grpc.RpcMethodHandler[Any, Any]", handler)
        # The wrapped handler depends only on the method and the inner handler, which
        # stays the same object call after call: build it once, not on every call
        # (rebuilding per call cost a measurable share of an echo server's throughput).
        cache: dict[str, tuple[object, grpc.RpcMethodHandler[Any, Any]]] = self.__dict__.setdefault(
            "_wrapped_handlers", {}
        )
        cached = cache.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = (
            wrap_handler(handler, lambda context: self.around(method, context))
            if self.applies_to(method)
            else handler
        )
        cache[method] = (handler, wrapped)
        return wrapped


def wrap_handler(
    handler: grpc.RpcMethodHandler[Any, Any],
    around: Callable[[Context], AbstractAsyncContextManager[None]],
) -> grpc.RpcMethodHandler[Any, Any]:
    """A copy of ``handler`` whose behaviour runs inside ``around(context)``."""
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        behaviour = getattr(handler, kind)
        if behaviour is not None:
            replaced = cast("Any", handler)._replace(**{kind: _wrap(behaviour, around)})
            return cast("grpc.RpcMethodHandler[Any, Any]", replaced)
    return handler


def _wrap(
    behaviour: Callable[..., Any],
    around: Callable[[Context], AbstractAsyncContextManager[None]],
) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behaviour):

        async def wrapped_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            async with around(context):
                async for response in behaviour(request, context):
                    yield response

        return wrapped_stream

    async def wrapped(request: Any, context: Context) -> Any:
        async with around(context):
            result = behaviour(request, context)
            return await result if inspect.isawaitable(result) else result

    return wrapped
