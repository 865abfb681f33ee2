"""The server stack: every step a call goes through, composed once per method into one wrapper.

Outermost first:

1. telemetry (``telemetry._server.MethodTelemetry``): the server span and the
   call's duration, each only when someone reads it;
2. error mapping (``_error_mapping``): a ``StockroomError`` leaves as its rich
   status, anything else as an opaque INTERNAL, logged;
3. load shedding (``LoadShedder``): past ``max_concurrent_rpcs`` calls in
   progress, RESOURCE_EXHAUSTED with jittered RetryInfo; server streams are
   not counted there but by the ``StreamGovernor`` (their own limit, a cap per
   caller, a maximum age, ended with UNAVAILABLE when the server drains);
4. the deadline (``client._deadlines``): a call that arrives with no time
   left is refused, the others publish theirs to the calls they make;
5. the inner interceptors, outermost first (per-caller authorization, then the
   service's own), each an ``AroundCallInterceptor``.

Why not one grpc.aio interceptor per step, as before: grpc awaits every
interceptor's ``intercept_service`` on every call just to find the handler
(chained through ``functools.partial``), and each step was an async context
manager entered and left per call. Six of them cost about 40 % of an echo
server's throughput (docs/performance.md). Here ``GrpcServer`` wraps each
service method's handler once, when it is registered, so grpc finds the
wrapped handler with a dict lookup and no interceptor runs; per call, the
steps are plain code in one coroutine. Health checks and reflection are not
wrapped: they are never shed, traced or measured.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import Token
from typing import Any, NoReturn, cast

import grpc

from stockroom.common._interceptors import AroundCallInterceptor, Context, wrap_handler
from stockroom.common.client._deadlines import (
    _Deadline,
    enter_server_deadline,
    leave_server_deadline,
)
from stockroom.common.server._error_mapping import abort_with, chosen_error, refusing_undecodable
from stockroom.common.server._registrar import GenericRegistrar, Handler
from stockroom.common.server._shedding import LoadShedder
from stockroom.common.server._streams import StreamGovernor
from stockroom.common.telemetry._providers import Telemetry
from stockroom.common.telemetry._rpc import OK, Outcome
from stockroom.common.telemetry._server import (
    CallTelemetry,
    MethodTelemetry,
    cancelled_outcome,
    is_traced,
    reported_outcome,
)

Behaviour = Callable[..., Any]
_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


class ServerStack:
    """Wraps each service method's handler once (see the module doc)."""

    def __init__(
        self,
        shedder: LoadShedder,
        telemetry: Telemetry,
        inner: Sequence[AroundCallInterceptor] = (),
        streams: StreamGovernor | None = None,
    ) -> None:
        self._shedder = shedder
        self._telemetry = telemetry
        self._inner = tuple(inner)
        self._streams = streams

    def wrap(self, method: str, handler: Handler) -> Handler:
        """``handler`` with the stack around it; health and reflection as they are."""
        if not is_traced(method):
            return handler
        for interceptor in reversed(self._inner):
            if interceptor.applies_to(method):
                handler = wrap_handler(handler, _around(interceptor, method))
        # Server streams have their own limits (``StreamGovernor``), never the unary slots.
        streaming = handler.response_streaming and self._streams is not None
        if streaming and handler.unary_stream is not None and self._streams is not None:
            handler = self._streams.govern(handler)
        for kind in _KINDS:
            behaviour = getattr(handler, kind)
            if behaviour is not None:
                steps = _Steps(
                    method,
                    self._shedder,
                    MethodTelemetry(method, self._telemetry),
                    shed=not streaming,
                )
                replaced = cast("Any", handler)._replace(**{kind: steps.wrap(behaviour)})
                # A body that does not decode is INVALID_ARGUMENT, not UNKNOWN + a traceback.
                return refusing_undecodable(cast("Handler", replaced))
        return handler


def _around(interceptor: AroundCallInterceptor, method: str) -> Callable[[Context], Any]:
    return lambda context: interceptor.around(method, context)


class _Call:
    """One call's state between the steps."""

    __slots__ = ("deadline", "outcome", "telemetry")

    def __init__(self, telemetry: CallTelemetry) -> None:
        self.telemetry = telemetry
        self.deadline: Token[_Deadline | None] | None = None
        self.outcome: Outcome = OK


class _Steps:
    """The steps of one method, with the values computed for it once."""

    def __init__(
        self, method: str, shedder: LoadShedder, telemetry: MethodTelemetry, *, shed: bool = True
    ) -> None:
        self.method = method
        self.shedder = shedder
        self.telemetry = telemetry
        self.shed = shed

    def wrap(self, behaviour: Behaviour) -> Behaviour:
        if inspect.isasyncgenfunction(behaviour):

            async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
                call = _Call(self.telemetry.begin(context))
                try:
                    self.admit(call, context)
                    try:
                        async for response in behaviour(request, context):
                            yield response
                    finally:
                        self.leave(call)
                except BaseException as error:
                    await self.fail(call, context, error)
                else:
                    self.succeed(call, context)
                finally:
                    self.telemetry.end(call.telemetry, call.outcome)

            return stream

        is_coroutine = inspect.iscoroutinefunction(behaviour)

        async def unary(request: Any, context: Context) -> Any:
            call = _Call(self.telemetry.begin(context))
            try:
                self.admit(call, context)
                try:
                    if is_coroutine:
                        response = await behaviour(request, context)
                    else:
                        result = behaviour(request, context)
                        response = await result if inspect.isawaitable(result) else result
                finally:
                    self.leave(call)
            except BaseException as error:
                await self.fail(call, context, error)
            else:
                if context.code() is not None:  # the servicer set a status without raising
                    call.outcome = reported_outcome(context) or OK
                return response
            finally:
                self.telemetry.end(call.telemetry, call.outcome)

        return unary

    def admit(self, call: _Call, context: Context) -> None:
        """Shedding, then the deadline; a refusal is raised and mapped like any error."""
        if self.shed:
            self.shedder.admit(self.method)
        try:
            call.deadline = enter_server_deadline(self.method, context)
        except BaseException:
            if self.shed:
                self.shedder.release()
            raise

    def leave(self, call: _Call) -> None:
        if call.deadline is not None:
            leave_server_deadline(call.deadline)
        if self.shed:
            self.shedder.release()

    def succeed(self, call: _Call, context: Context) -> None:
        if context.code() is not None:  # the servicer set a status without raising
            call.outcome = reported_outcome(context) or OK

    async def fail(self, call: _Call, context: Context, error: BaseException) -> NoReturn:
        """Note how the call ended; send the status of an error of ours or of a bug."""
        if isinstance(error, asyncio.CancelledError | GeneratorExit):
            call.outcome = cancelled_outcome(context)
            raise error
        if isinstance(error, grpc.aio.AbortError):  # the servicer chose the status itself
            call.outcome = reported_outcome(context) or Outcome(grpc.StatusCode.UNKNOWN)
            raise error
        if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit
            call.outcome = Outcome(grpc.StatusCode.UNKNOWN)
            raise error
        sent = chosen_error(self.method, error)
        call.outcome = Outcome.of_error(sent)
        await abort_with(context, sent)


def stacked_registrar(server: grpc.aio.Server, stack: ServerStack) -> GenericRegistrar:
    """What a servicer's ``add_*_to_server`` is handed: the grpc server, except that every
    handler registered through it is wrapped by the stack first (and registered as a
    generic handler only: ``_registrar``)."""
    return GenericRegistrar(server, lambda handler: _StackedGenericHandler(handler, stack))


# A generic handler may serve any method name; past this many, wrap without remembering.
_MAX_CACHED_METHODS = 1024


class _StackedGenericHandler(grpc.GenericRpcHandler):
    """A generic handler whose handlers come out wrapped, each wrapped once per method."""

    def __init__(self, inner: grpc.GenericRpcHandler, stack: ServerStack) -> None:
        self._inner = inner
        self._stack = stack
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._stack.wrap(method, handler)
        if len(self._wrapped) < _MAX_CACHED_METHODS:
            self._wrapped[method] = (handler, wrapped)
        return wrapped
