"""The SDK from the standard OTEL_* variables: exporters, resource, what is dropped, and a
shutdown that cannot hold a stopping process hostage."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import metadata

import pytest
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_VERSION
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from stockroom.common.server import ConfigError
from stockroom.common.telemetry._sdk import (
    InstalledTelemetry,
    TelemetrySettings,
    service_resource,
)


@pytest.mark.parametrize(
    ("env", "traces", "metrics"),
    [
        ({}, set(), set()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, {"otlp"}, {"otlp"}),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4317"}, {"otlp"}, set()),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"}, {"console"}, set()),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_TRACES_EXPORTER": "none"},
            set(),
            {"otlp"},
        ),
    ],
)
def test_exporters_follow_the_otel_variables_and_need_an_endpoint_for_otlp_by_default(
    env: dict[str, str], traces: set[str], metrics: set[str]
) -> None:
    settings = TelemetrySettings.from_env(env)

    assert settings.trace_exporters == traces
    assert settings.metric_exporters == metrics


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        },
    ],
)
def test_an_exporter_or_protocol_that_is_not_installed_is_a_configuration_error(
    env: dict[str, str],
) -> None:
    with pytest.raises(ConfigError):
        TelemetrySettings.from_env(env)


def test_otel_sdk_disabled_turns_the_sdk_off() -> None:
    assert not TelemetrySettings.from_env({"OTEL_SDK_DISABLED": "true"}).enabled
    assert TelemetrySettings.from_env({}).enabled


def test_the_resource_names_the_service_unless_the_environment_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
    default = service_resource("pricing").attributes
    monkeypatch.setenv("OTEL_SERVICE_NAME", "pricing-eu")
    renamed = service_resource("pricing").attributes

    assert default[SERVICE_NAME] == "pricing"
    assert default[SERVICE_NAMESPACE] == "stockroom"
    # The installed stockroom-pricing's version, derived from git (tests/test_packaging.py).
    assert default[SERVICE_VERSION] == metadata.version("stockroom-pricing")
    assert default["deployment.environment.name"] == "staging"
    assert renamed[SERVICE_NAME] == "pricing-eu"


class StuckExporter(SpanExporter):
    """A collector that never answers, until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait()
        return SpanExportResult.SUCCESS


def test_shutdown_gives_up_waiting_for_an_unresponsive_collector() -> None:
    installed = InstalledTelemetry("pricing", TelemetrySettings())
    stuck = StuckExporter()
    installed.tracer_provider.add_span_processor(BatchSpanProcessor(stuck))
    installed.tracer_provider.get_tracer("t").start_span("pending").end()

    try:
        assert installed.shutdown(timeout_s=0.2) is False  # the flush is still waiting
    finally:
        stuck.release.set()


def test_shutdown_with_nothing_pending_completes() -> None:
    assert InstalledTelemetry("pricing", TelemetrySettings()).shutdown() is True
