"""Where the library's spans and measurements go: the global OpenTelemetry providers,
unless a test or an embedding application hands over its own.

Servers, channels and engines take a ``Telemetry`` (``GLOBAL_TELEMETRY`` by
default) instead of calling the OpenTelemetry globals directly, so a test can
record into an in-memory provider without installing it for the whole
process. The global providers are looked up through OpenTelemetry's proxies,
so a channel made before ``configure_telemetry`` runs starts recording once it
has; a server's methods and a database engine instead ask ``traces_recorded``
and ``metrics_recorded`` when they are set up, and install nothing that no one
would read (``run_service`` configures telemetry before it builds either).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace

# The API's default global meter provider; the API exports no name for it.
from opentelemetry.metrics._internal import _ProxyMeterProvider

from stockroom.common.telemetry import _names as names

if TYPE_CHECKING:
    from stockroom.common.telemetry._resilience import ResilienceMetrics

SCOPE = "stockroom.common"
# Batch sizes run from 1 (an idle process flushes at once) to the largest max_batch (256).
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# A batch is one or two round trips and a commit: milliseconds, hundreds when the database waits.
BATCH_DURATION_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)


class Telemetry:
    """A tracer provider and a meter provider (None: the global ones), and the instruments
    the library records into them, created once."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider

    @property
    def traces_recorded(self) -> bool:
        """Whether spans made now go anywhere: a provider was handed over, or an SDK installed
        globally (``configure_telemetry`` installs one only when an exporter is configured).

        Instrumentation asks when it is set up (a server's methods when registered, an engine
        when created) and installs nothing when the answer is no.
        """
        provider = self.tracer_provider or trace.get_tracer_provider()
        return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))

    @property
    def metrics_recorded(self) -> bool:
        """Like ``traces_recorded``, for measurements (an exporter or a Prometheus endpoint)."""
        provider = self.meter_provider or metrics.get_meter_provider()
        return not isinstance(provider, (_ProxyMeterProvider, metrics.NoOpMeterProvider))

    @cached_property
    def tracer(self) -> trace.Tracer:
        return trace.get_tracer(SCOPE, tracer_provider=self.tracer_provider)

    @cached_property
    def meter(self) -> metrics.Meter:
        return metrics.get_meter(SCOPE, meter_provider=self.meter_provider)

    @cached_property
    def rpc_server_duration(self) -> metrics.Histogram:
        return self.meter.create_histogram(
            names.RPC_SERVER_DURATION,
            unit="ms",
            description="Duration of inbound RPCs, by method and status code.",
        )

    @cached_property
    def rpc_client_duration(self) -> metrics.Histogram:
        return self.meter.create_histogram(
            names.RPC_CLIENT_DURATION,
            unit="ms",
            description="Duration of outbound RPCs (all attempts of one call), by method and code.",
        )

    @cached_property
    def rpc_client_attempts(self) -> metrics.Counter:
        return self.meter.create_counter(
            names.RPC_CLIENT_ATTEMPTS,
            unit="{attempt}",
            description="Outbound attempts that reached the network, retries included.",
        )

    @cached_property
    def batch_size(self) -> metrics.Histogram:
        return self.meter.create_histogram(
            names.BATCH_SIZE,
            unit="{item}",
            description="Items per batch of a group commit (writes, reads, quotes), by name.",
            explicit_bucket_boundaries_advisory=BATCH_SIZE_BUCKETS,
        )

    @cached_property
    def batch_duration(self) -> metrics.Histogram:
        return self.meter.create_histogram(
            names.BATCH_DURATION,
            unit="ms",
            description="Time a group commit's batch took to flush, by name and outcome.",
            explicit_bucket_boundaries_advisory=BATCH_DURATION_BUCKETS_MS,
        )

    @cached_property
    def database_tracer(self) -> trace.Tracer:
        """The SQLAlchemy instrumentation's spans, under its own scope name."""
        return trace.get_tracer(names.DATABASE_SCOPE, tracer_provider=self.tracer_provider)

    @cached_property
    def database_connections(self) -> metrics.UpDownCounter:
        return self.meter.create_up_down_counter(
            names.DB_CLIENT_CONNECTIONS_USAGE,
            unit="{connection}",
            description="Pooled database connections by state (idle, used) and pool.",
        )

    @cached_property
    def resilience(self) -> ResilienceMetrics:
        # Imported here: the resilience metrics observe client types (breakers,
        # downstreams) and the client imports this module.
        from stockroom.common.telemetry._resilience import ResilienceMetrics

        return ResilienceMetrics(self.meter)


GLOBAL_TELEMETRY = Telemetry()
