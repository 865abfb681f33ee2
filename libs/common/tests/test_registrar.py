"""Every method is served through generic handlers, none as a registered method
(``server._registrar``): grpc.aio's server pays per accepted call for each registered one."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2_grpc
from opentelemetry.trace import SpanKind

from stockroom.common.server import GrpcServer, ServerConfig, ServiceRegistration
from stockroom.common.server._registrar import GenericRegistrar
from stockroom.common.testing import ECHO_METHOD, ECHO_SERVICE, echo_callable, serving

from .conftest import SpanRecorder


async def _echo(request: bytes, context: Any) -> bytes:
    return request


HANDLERS: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
    "Echo": grpc.unary_unary_rpc_method_handler(_echo)
}


class RecordingServer:
    """Stands in for grpc.aio.Server: what was registered, and how."""

    def __init__(self) -> None:
        self.generic: list[grpc.GenericRpcHandler] = []
        self.registered: list[str] = []

    def add_generic_rpc_handlers(self, handlers: tuple[grpc.GenericRpcHandler, ...]) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.registered.append(service)


def add_like_generated_code(server: Any) -> None:
    """What grpcio-tools' ``add_*_to_server`` does: both ways."""
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(ECHO_SERVICE, HANDLERS),))
    server.add_registered_method_handlers(ECHO_SERVICE, HANDLERS)


def add_registered_only(server: Any) -> None:
    server.add_registered_method_handlers(ECHO_SERVICE, HANDLERS)


class Probe(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def test_generated_registration_keeps_the_generic_handler_and_drops_the_registered_copy() -> None:
    server = RecordingServer()
    add_like_generated_code(GenericRegistrar(server))  # type: ignore[arg-type]
    assert server.registered == []
    assert len(server.generic) == 1


def test_a_method_registered_only_as_registered_is_still_served_generically() -> None:
    server = RecordingServer()
    add_registered_only(GenericRegistrar(server))  # type: ignore[arg-type]
    assert server.registered == []
    (handler,) = server.generic
    assert handler.service(Probe(ECHO_METHOD)) is not None
    assert handler.service(Probe(f"/{ECHO_SERVICE}/Other")) is None


def test_health_and_reflection_register_nothing_but_generic_handlers() -> None:
    server = RecordingServer()
    registrar: Any = GenericRegistrar(server)  # type: ignore[arg-type]
    health_pb2_grpc.add_HealthServicer_to_server(health_pb2_grpc.HealthServicer(), registrar)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(  # type: ignore[no-untyped-call]
        reflection_pb2_grpc.ServerReflectionServicer(), registrar
    )
    assert server.registered == []
    assert len(server.generic) == 2


async def test_both_ways_of_registering_serve_their_calls_through_the_stack(
    span_recorder: SpanRecorder,
) -> None:
    for add in (add_like_generated_code, add_registered_only):
        server = GrpcServer(
            ServerConfig(service_name="echo", port=0),
            [ServiceRegistration(ECHO_SERVICE, add)],
            telemetry=span_recorder.telemetry,
        )
        async with serving(server) as address, grpc.aio.insecure_channel(address) as channel:
            assert await echo_callable(channel)(b"ping", timeout=30) == b"ping"
    # The stack's telemetry step made the server span of each call.
    spans = span_recorder.spans(SpanKind.SERVER)
    assert [span.name for span in spans] == [ECHO_METHOD.lstrip("/")] * 2
