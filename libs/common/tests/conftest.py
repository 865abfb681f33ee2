"""Fixtures for the common library's tests: span recording and servers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from stockroom.common.config import ServerConfig
from stockroom.common.server import GrpcServer, ServiceRegistration
from stockroom.common.telemetry.providers import Telemetry
from stockroom.common.testing.servers import serving


@dataclass
class SpanRecorder:
    """A tracer that is not installed globally: spans it starts are current only where the
    test makes them so, and land in ``exporter``."""

    tracer: Tracer
    exporter: InMemorySpanExporter
    # Hand this to connect / GrpcServer / create_engine to record their spans here too.
    telemetry: Telemetry

    def finished(self, name: str) -> ReadableSpan:
        return next(s for s in self.exporter.get_finished_spans() if s.name == name)

    def client_span(self) -> ReadableSpan:
        """The one client span recorded (a call made through ``connect``)."""
        (span,) = [s for s in self.exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
        return span


@pytest.fixture
def span_recorder() -> SpanRecorder:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return SpanRecorder(provider.get_tracer("stockroom.tests"), exporter, Telemetry(provider))


ServeFactory = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def serve() -> ServeFactory:
    """``async with serve(registration, ...) as address``: a GrpcServer on a free port."""

    @asynccontextmanager
    async def start(
        *registrations: ServiceRegistration,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        outer_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        **config: object,
    ) -> AsyncIterator[str]:
        server = GrpcServer(
            ServerConfig(service_name="test", port=0, **config),  # type: ignore[arg-type]
            registrations,
            interceptors=interceptors,
            outer_interceptors=outer_interceptors,
        )
        async with serving(server) as address:
            yield address

    return start


def unary(channel: grpc.aio.Channel, path: str) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    """A raw-bytes unary method on ``channel`` (no proto needed)."""
    return channel.unary_unary(path)


def unary_stream(
    channel: grpc.aio.Channel, path: str
) -> grpc.aio.UnaryStreamMultiCallable[bytes, bytes]:
    return channel.unary_stream(path)


def stream_unary(
    channel: grpc.aio.Channel, path: str
) -> grpc.aio.StreamUnaryMultiCallable[bytes, bytes]:
    return channel.stream_unary(path)


def stream_stream(
    channel: grpc.aio.Channel, path: str
) -> grpc.aio.StreamStreamMultiCallable[bytes, bytes]:
    return channel.stream_stream(path)
