"""Fixtures for the common library's tests: span recording and servers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from stockroom.common.server import (
    AroundCallInterceptor,
    GrpcServer,
    ServerConfig,
    ServiceRegistration,
)
from stockroom.common.telemetry import GLOBAL_TELEMETRY, Telemetry
from stockroom.common.testing import serving


@dataclass
class SpanRecorder:
    """A tracer and a meter that are not installed globally: spans it starts are current
    only where the test makes them so, and land in ``exporter``; measurements in ``metrics``."""

    tracer: Tracer
    exporter: InMemorySpanExporter
    # Hand this to connect / GrpcServer / create_engine to record their spans here too.
    telemetry: Telemetry
    metrics: InMemoryMetricReader

    def finished(self, name: str) -> ReadableSpan:
        return next(s for s in self.exporter.get_finished_spans() if s.name == name)

    def client_span(self) -> ReadableSpan:
        """The one client span recorded (a call made through ``connect``)."""
        (span,) = self.spans(SpanKind.CLIENT)
        return span

    def spans(self, kind: SpanKind) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.kind is kind]

    def points(self, metric: str) -> list[Any]:
        """The data points of ``metric`` collected now (empty if nothing was recorded)."""
        data = self.metrics.get_metrics_data()
        return [
            point
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics
            for found in scope.metrics
            if found.name == metric
            for point in found.data.data_points
        ]

    def value(self, metric: str, **attributes: object) -> float | None:
        """The value of a sum or gauge point whose attributes include ``attributes``."""
        for point in self.points(metric):
            if (
                isinstance(point, NumberDataPoint)
                and attributes.items() <= dict(point.attributes or {}).items()
            ):
                return point.value
        return None


@pytest.fixture
def span_recorder() -> SpanRecorder:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    telemetry = Telemetry(provider, MeterProvider(metric_readers=[reader]))
    return SpanRecorder(provider.get_tracer("stockroom.tests"), exporter, telemetry, reader)


ServeFactory = Callable[..., AbstractAsyncContextManager[str]]


def parent_of(span: ReadableSpan) -> int | None:
    """The span id of ``span``'s parent (None for a root)."""
    return span.parent.span_id if span.parent is not None else None


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait for ``condition`` (checked every 10 ms), e.g. a span ended by a server-side task."""
    for _ in range(round(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"still not true after {timeout_s} s")


@pytest.fixture
def serve() -> ServeFactory:
    """``async with serve(registration, ...) as address``: a GrpcServer on a free port."""

    @asynccontextmanager
    async def start(
        *registrations: ServiceRegistration,
        interceptors: Sequence[AroundCallInterceptor] = (),
        outer_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        telemetry: Telemetry = GLOBAL_TELEMETRY,
        **config: object,
    ) -> AsyncIterator[str]:
        server = GrpcServer(
            ServerConfig(service_name="test", port=0, **config),  # type: ignore[arg-type]
            registrations,
            interceptors=interceptors,
            outer_interceptors=outer_interceptors,
            telemetry=telemetry,
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
