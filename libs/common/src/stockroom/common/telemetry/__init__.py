"""OpenTelemetry for Stockroom: one trace per request across services and the
database, RPC and resilience metrics, and the SDK set up from ``OTEL_*``.

Services write no telemetry code: ``run_service`` calls ``configure_telemetry``,
``GrpcServer`` installs the server span, ``connect`` the client span,
``create_engine`` the database spans; breakers, budgets and shedding are
observed. A service publishes its own values with ``gauge`` and
``observe_gauge``; ``names`` holds every metric, attribute and scope name.

The library records through the OpenTelemetry API only (a no-op until an SDK
is installed), so ``connect`` and ``GrpcServer`` work without the
``telemetry`` extra; ``configure_telemetry`` (the SDK, OTLP and Prometheus
exporters) needs ``stockroom-common[telemetry]``. Nothing is recorded (or
installed per call) for a signal that has no exporter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stockroom.common.telemetry import _names as names
from stockroom.common.telemetry._gauges import ServiceGauge, gauge, observe_gauge
from stockroom.common.telemetry._providers import GLOBAL_TELEMETRY, Telemetry

if TYPE_CHECKING:
    from stockroom.common.telemetry._sdk import InstalledTelemetry

__all__ = [
    "GLOBAL_TELEMETRY",
    "ServiceGauge",
    "Telemetry",
    "configure_telemetry",
    "gauge",
    "names",
    "observe_gauge",
]


def configure_telemetry(
    service_name: str, *, prometheus_host: str = "127.0.0.1", prometheus_port: int = 0
) -> InstalledTelemetry | None:
    """Install the SDK for this process from ``OTEL_*`` (once, at startup); None when disabled.

    Imported on call so that the package itself needs only the OpenTelemetry API.
    """
    try:
        from stockroom.common.telemetry._sdk import configure_telemetry as configure
    except ImportError as exc:
        raise ImportError(
            f"configure_telemetry needs the SDK: install stockroom-common[telemetry] ({exc})"
        ) from exc

    return configure(service_name, prometheus_host=prometheus_host, prometheus_port=prometheus_port)
