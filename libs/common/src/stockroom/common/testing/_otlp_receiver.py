"""An OTLP/gRPC endpoint inside this process that keeps the spans and metrics sent to it.

What a collector would receive, with nothing mocked: services export to it
exactly as they would to Jaeger or an OpenTelemetry Collector (point
``OTEL_EXPORTER_OTLP_ENDPOINT`` at ``receiver.endpoint``). ``stockroom dev up``
uses it to print a trace without any collector installed; end-to-end tests
use it to assert what arrived. It keeps the last ``max_spans`` spans and
``max_metric_exports`` metric exports in memory and is not a collector.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

T = TypeVar("T")


@dataclass(frozen=True)
class ReceivedEvent:
    name: str
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived, ids in the hex form Jaeger shows."""

    service: str
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    start_ns: int
    end_ns: int
    status: str  # UNSET, OK, ERROR
    status_message: str
    attributes: Mapping[str, Any]
    events: tuple[ReceivedEvent, ...]
    resource: Mapping[str, Any]
    scope: str

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclass(frozen=True)
class ReceivedPoint:
    """One data point of one metric: a number (sums, gauges) or a histogram's count and sum."""

    service: str
    metric: str
    unit: str
    attributes: Mapping[str, Any]
    value: float | None = None
    count: int | None = None
    total: float | None = None
    resource: Mapping[str, Any] = field(default_factory=dict)


class OtlpReceiver:
    """``async with OtlpReceiver() as receiver:`` an OTLP endpoint on a free loopback port."""

    def __init__(self, *, max_spans: int = 10_000, max_metric_exports: int = 1_000) -> None:
        self._spans: deque[ReceivedSpan] = deque(maxlen=max_spans)
        self._metric_exports: deque[metrics_service_pb2.ExportMetricsServiceRequest] = deque(
            maxlen=max_metric_exports
        )
        self._arrived = asyncio.Condition()
        self._server: grpc.aio.Server | None = None
        self.endpoint = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve OTLP traces and metrics; returns the URL for OTEL_EXPORTER_OTLP_ENDPOINT."""
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _TraceService(self), server
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _MetricsService(self), server
        )
        bound = server.add_insecure_port(f"{host}:{port}")
        await server.start()
        self._server = server
        self.endpoint = f"http://{host}:{bound}"
        return self.endpoint

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None

    async def __aenter__(self) -> OtlpReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def spans(self) -> list[ReceivedSpan]:
        return list(self._spans)

    def points(self, metric: str) -> list[ReceivedPoint]:
        """Every data point of ``metric`` received so far, oldest first."""
        return [
            point
            for request in self._metric_exports
            for point in _points(request)
            if point.metric == metric
        ]

    async def wait_for(self, found: Callable[[], T | None], timeout_s: float) -> T:
        """The first non-None ``found()``, re-evaluated as exports arrive; TimeoutError after
        ``timeout_s``."""
        result: T | None = None

        def check() -> bool:
            nonlocal result
            result = found()
            return result is not None

        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(check)
        assert result is not None
        return result

    async def _received(self, spans: list[ReceivedSpan]) -> None:
        async with self._arrived:
            self._spans.extend(spans)
            self._arrived.notify_all()

    async def _received_metrics(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest
    ) -> None:
        async with self._arrived:
            self._metric_exports.append(request)
            self._arrived.notify_all()


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[
            trace_service_pb2.ExportTraceServiceRequest,
            trace_service_pb2.ExportTraceServiceResponse,
        ],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        await self._receiver._received(_spans(request))
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    async def Export(
        self,
        request: metrics_service_pb2.ExportMetricsServiceRequest,
        context: grpc.aio.ServicerContext[
            metrics_service_pb2.ExportMetricsServiceRequest,
            metrics_service_pb2.ExportMetricsServiceResponse,
        ],
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        await self._receiver._received_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


def _spans(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    received = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                received.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name", "")),
                        name=span.name,
                        kind=trace_pb2.Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status=trace_pb2.Status.StatusCode.Name(span.status.code).removeprefix(
                            "STATUS_CODE_"
                        ),
                        status_message=span.status.message,
                        attributes=_attributes(span.attributes),
                        events=tuple(
                            ReceivedEvent(e.name, _attributes(e.attributes)) for e in span.events
                        ),
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )
    return received


def _points(request: metrics_service_pb2.ExportMetricsServiceRequest) -> list[ReceivedPoint]:
    points = []
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        service = str(resource.get("service.name", ""))
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in _metric_points(metric):
                    points.append(
                        ReceivedPoint(service, metric.name, metric.unit, resource=resource, **point)
                    )
    return points


def _metric_points(metric: metrics_pb2.Metric) -> list[dict[str, Any]]:
    kind = metric.WhichOneof("data")
    if kind in ("gauge", "sum"):
        numbers = metric.gauge.data_points if kind == "gauge" else metric.sum.data_points
        return [
            {
                "attributes": _attributes(p.attributes),
                "value": p.as_double if p.WhichOneof("value") == "as_double" else p.as_int,
            }
            for p in numbers
        ]
    if kind == "histogram":
        return [
            {"attributes": _attributes(p.attributes), "count": p.count, "total": p.sum}
            for p in metric.histogram.data_points
        ]
    return []


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)
