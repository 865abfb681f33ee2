"""Every method a server serves is registered as a generic handler, none as a registered one.

grpc.aio's server keeps one pending call request per registered method (and one
for the generic handlers) and, for every call it accepts, awaits
``asyncio.wait`` over all of them: each accepted call adds and removes a done
callback on every pending request. With inventory's 40-odd methods plus health
and reflection that is about 40 us of CPU per call, whatever the method
(``asyncio.wait`` over 41 futures: 53 us per accepted call against 14 us over
one; docs/performance.md). Generated ``add_*_to_server`` functions register
each service both ways; the generic handlers alone serve every method, found
by a dict lookup, so the registered copy is dropped, once checked to be served.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import grpc

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Wrap = Callable[[grpc.GenericRpcHandler], grpc.GenericRpcHandler]


class _Probe(grpc.HandlerCallDetails):
    """What a generic handler is asked with: the method, no metadata."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


class GenericRegistrar:
    """What a servicer's ``add_*_to_server`` is handed instead of the grpc server: generic
    handlers go to the server (through ``wrap``); registered method handlers are dropped when
    a generic handler already serves the method, and added as a generic one when not."""

    def __init__(self, server: grpc.aio.Server, wrap: Wrap | None = None) -> None:
        self._server = server
        self._wrap = wrap
        self._generic: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(handlers)
        wrap = self._wrap
        self._server.add_generic_rpc_handlers(
            tuple(handlers) if wrap is None else tuple(wrap(handler) for handler in handlers)
        )

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, Handler]
    ) -> None:
        missing = {
            name: handler
            for name, handler in method_handlers.items()
            if not self._serves(f"/{service_name}/{name}")
        }
        if missing:
            self.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service_name, missing),)
            )

    def _serves(self, method: str) -> bool:
        probe = _Probe(method)
        return any(handler.service(probe) is not None for handler in self._generic)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)
