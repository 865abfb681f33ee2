"""One OpenTelemetry SDK per process, configured by the standard ``OTEL_*`` variables.

``run_service`` calls ``configure_telemetry`` before anything else starts, so
every service gets the same setup without code of its own. The SDK reads
most variables itself: ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``
(the resource), ``OTEL_TRACES_SAMPLER`` and ``_ARG`` (default: parent-based,
always on), ``OTEL_BSP_*`` (span batching), ``OTEL_METRIC_EXPORT_INTERVAL``,
``OTEL_EXPORTER_OTLP_*`` (endpoint, headers, TLS, timeout, compression).

Decided here, where the specification leaves room or its default would hurt:

- Exporters: ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` take
  ``otlp``, ``console`` or ``none``. Unset, they are ``otlp`` when an OTLP
  endpoint is configured and ``none`` otherwise (the specification says
  ``otlp`` to localhost:4317, which on a laptop only fills the log with
  export errors).
- A signal with nothing to export installs nothing: no tracer provider
  without a span exporter, no meter provider without a metric exporter or a
  Prometheus endpoint. The API stays a no-op for it and the instrumentation
  asks before it installs anything (``Telemetry.traces_recorded``), so a
  service that exports nothing pays nothing per call. A caller's trace id
  still reaches the log lines and the outbound calls (the server makes the
  caller's ``traceparent`` current without recording a span).
- Only OTLP over gRPC is installed: another ``OTEL_EXPORTER_OTLP_PROTOCOL``
  is a configuration error at startup, not silence.
- ``<P>_PROMETHEUS_PORT`` adds a Prometheus endpoint next to OTLP.
- ``OTEL_SDK_DISABLED=true`` installs nothing: the API stays a no-op.
- Shutdown flushes for at most ``SHUTDOWN_TIMEOUT_S``, and the SDK's own
  at-exit flush is off: with the collector unreachable it would hold a
  stopping process for the exporter timeout plus retries (measured: about
  7 s per signal) and Kubernetes would kill it mid-drain.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from wsgiref.simple_server import WSGIServer

import prometheus_client
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import (
    SERVICE_INSTANCE_ID,
    SERVICE_NAME,
    SERVICE_NAMESPACE,
    SERVICE_VERSION,
    OTELResourceDetector,
    Resource,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from stockroom.common.server._config import ConfigError

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.telemetry")

EXPORTERS = frozenset({"otlp", "console", "none"})
# Kubernetes allows 30 s after SIGTERM and draining takes up to DRAIN_GRACE_S (20 s):
# flushing telemetry gets at most 5 s of the rest.
SHUTDOWN_TIMEOUT_S = 5.0
# When the collector failed recently, waiting for it at shutdown only delays the exit.
UNREACHABLE_SHUTDOWN_TIMEOUT_S = 0.5
RECENT_FAILURE_S = 60.0
JOIN_SLICE_S = 0.05
NAMESPACE = "stockroom"
# The OTLP exporters log every failed attempt and every retry; one line says it all.
EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.grpc.exporter"


class ExportFailures(logging.Filter):
    """Lets the exporters' first failure through (one warning per process) and keeps the
    rest out of the logs, remembering when the collector last failed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self.last_failure: float | None = None
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        first = self.last_failure is None
        self.last_failure = self._clock()
        if first:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = (
                f"telemetry collector unreachable; later failures are not logged: {record.msg}"
            )
            return True
        self.suppressed += 1
        return False

    def failed_recently(self) -> bool:
        return (
            self.last_failure is not None and self._clock() - self.last_failure < RECENT_FAILURE_S
        )


@dataclass(frozen=True)
class TelemetrySettings:
    """Which exporters run, from the environment."""

    enabled: bool = True
    trace_exporters: frozenset[str] = frozenset()
    metric_exporters: frozenset[str] = frozenset()
    prometheus_host: str = "127.0.0.1"
    # 0: no Prometheus endpoint.
    prometheus_port: int = 0

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, prometheus_host: str = "127.0.0.1", prometheus_port: int = 0
    ) -> TelemetrySettings:
        return cls(
            enabled=env.get("OTEL_SDK_DISABLED", "").strip().lower() != "true",
            trace_exporters=_exporters(env, "TRACES"),
            metric_exporters=_exporters(env, "METRICS"),
            prometheus_host=prometheus_host,
            prometheus_port=prometheus_port,
        )


def _exporters(env: Mapping[str, str], signal: str) -> frozenset[str]:
    raw = env.get(f"OTEL_{signal}_EXPORTER")
    if raw is None:
        endpoint = env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        chosen = frozenset({"otlp"}) if endpoint else frozenset()
    else:
        chosen = frozenset(name.strip().lower() for name in raw.split(",") if name.strip())
        unknown = chosen - EXPORTERS
        if unknown:
            raise ConfigError(
                f"OTEL_{signal}_EXPORTER={raw!r}: {', '.join(sorted(unknown))} is not one of "
                f"{', '.join(sorted(EXPORTERS))}"
            )
        chosen -= {"none"}
    if "otlp" in chosen:
        protocol = env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or env.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
        )
        if protocol.strip().lower() != "grpc":
            raise ConfigError(
                f"OTLP protocol {protocol!r} for {signal.lower()}: only 'grpc' is installed "
                "(collectors, Jaeger and Tempo accept it on port 4317)"
            )
    return chosen


def service_resource(service_name: str) -> Resource:
    """Who is reporting: ``service.name`` and friends, unless the environment says otherwise
    (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES`` win)."""
    defaults: dict[str, str] = {
        SERVICE_NAME: service_name,
        SERVICE_NAMESPACE: NAMESPACE,
        SERVICE_INSTANCE_ID: str(uuid.uuid4()),
    }
    with contextlib.suppress(metadata.PackageNotFoundError):  # a service not installed as one
        defaults[SERVICE_VERSION] = metadata.version(f"stockroom-{service_name}")
    from_env = OTELResourceDetector().detect().attributes
    created = Resource.create({k: v for k, v in defaults.items() if k not in from_env})
    return HashedResource(created)


class HashedResource(Resource):
    """A resource that hashes once. The OTLP exporters group every exported span and metric
    point by resource in a dict, and ``Resource.__hash__`` serialises the attributes to JSON
    each time: about 9 us of the 28 us it took to encode a span (docs/performance.md). The
    attributes never change after startup, so the hash does not either."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or super().__eq__(other)


class InstalledTelemetry:
    """The SDK providers of this process and the Prometheus endpoint, until ``shutdown``."""

    def __init__(self, service_name: str, settings: TelemetrySettings) -> None:
        self.export_failures = ExportFailures()
        exporter_logger = logging.getLogger(EXPORTER_LOGGER)
        for earlier in [f for f in exporter_logger.filters if isinstance(f, ExportFailures)]:
            exporter_logger.removeFilter(earlier)  # the SDK installed before this one
        # First in line: the SDK's own DuplicateFilter would hide repeats from it.
        exporter_logger.filters.insert(0, self.export_failures)
        resource = service_resource(service_name)
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        for span_exporter in _span_exporters(settings.trace_exporters):
            self.tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        readers: list[MetricReader] = []
        if "otlp" in settings.metric_exporters:
            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        if "console" in settings.metric_exporters:
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
        self._prometheus: WSGIServer | None = None
        if settings.prometheus_port:
            readers.append(PrometheusMetricReader())
            self._prometheus, _ = prometheus_client.start_http_server(
                settings.prometheus_port, settings.prometheus_host
            )
        self.meter_provider = MeterProvider(
            metric_readers=readers, resource=resource, shutdown_on_exit=False
        )
        # What ``configure_telemetry`` installs globally: only what has somewhere to go.
        self.exports_traces = bool(settings.trace_exporters)
        self.exports_metrics = bool(readers)
        self.settings = settings

    def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Flush and stop both providers, waiting at most ``timeout_s`` (half a second when
        the collector failed in the last minute); False if cut short."""
        unreachable = self.export_failures.failed_recently()
        if unreachable:
            timeout_s = min(timeout_s, UNREACHABLE_SHUTDOWN_TIMEOUT_S)
        if self._prometheus is not None:
            self._prometheus.shutdown()
            self._prometheus.server_close()
        workers = [
            threading.Thread(target=stop, name=f"telemetry-{name}", daemon=True)
            for name, stop in (
                ("traces", self.tracer_provider.shutdown),
                ("metrics", self.meter_provider.shutdown),
            )
        ]
        for worker in workers:
            worker.start()
        give_up_at = time.monotonic() + timeout_s
        # Wait in short slices: a collector found unreachable during the flush itself
        # (the first export is often the last) cuts the wait to the short timeout.
        for _ in range(int(timeout_s / JOIN_SLICE_S) + 2):
            alive = [worker for worker in workers if worker.is_alive()]
            now = time.monotonic()
            if not alive or now >= give_up_at:
                break
            if not unreachable and self.export_failures.failed_recently():
                unreachable = True
                timeout_s = UNREACHABLE_SHUTDOWN_TIMEOUT_S
                give_up_at = min(give_up_at, now + timeout_s)
            alive[0].join(min(JOIN_SLICE_S, max(0.0, give_up_at - now)))
        if any(worker.is_alive() for worker in workers):
            # Already warned once if the collector is unreachable: no second warning.
            logger.log(
                logging.INFO if unreachable else logging.WARNING,
                "telemetry not flushed: the collector did not take it in time",
                extra={
                    "timeout_s": timeout_s,
                    "failures_not_logged": self.export_failures.suppressed,
                },
            )
            return False
        return True


def _span_exporters(chosen: frozenset[str]) -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    if "otlp" in chosen:
        exporters.append(OTLPSpanExporter())
    if "console" in chosen:
        exporters.append(ConsoleSpanExporter())
    return exporters


def configure_telemetry(
    service_name: str, *, prometheus_host: str = "127.0.0.1", prometheus_port: int = 0
) -> InstalledTelemetry | None:
    """Install the SDK for this process from ``OTEL_*`` (once, at startup); None when disabled."""
    settings = TelemetrySettings.from_env(
        os.environ, prometheus_host=prometheus_host, prometheus_port=prometheus_port
    )
    if not settings.enabled:
        logger.info("telemetry disabled (OTEL_SDK_DISABLED)")
        return None
    installed = InstalledTelemetry(service_name, settings)
    if installed.exports_traces:
        trace.set_tracer_provider(installed.tracer_provider)
    if installed.exports_metrics:
        metrics.set_meter_provider(installed.meter_provider)
    logger.info(
        "telemetry configured",
        extra={
            "traces": sorted(settings.trace_exporters) or ["none"],
            "metrics": sorted(settings.metric_exporters) or ["none"],
            "prometheus_port": settings.prometheus_port or None,
            "otlp_endpoint": os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        },
    )
    return installed
