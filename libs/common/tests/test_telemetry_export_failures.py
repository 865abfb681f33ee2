"""An unreachable collector: one warning, not one per attempt, and no long wait at exit."""

from __future__ import annotations

import logging
import threading

import pytest
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from stockroom.common.telemetry._sdk import (
    EXPORTER_LOGGER,
    UNREACHABLE_SHUTDOWN_TIMEOUT_S,
    ExportFailures,
    InstalledTelemetry,
    TelemetrySettings,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(EXPORTER_LOGGER, level, __file__, 1, message, None, None)


def test_only_the_first_export_failure_is_logged_as_one_warning() -> None:
    clock = Clock()
    failures = ExportFailures(clock)
    first = record(logging.WARNING, "Transient error UNAVAILABLE, retrying in 1s")
    later = [record(logging.ERROR, "Failed to export traces"), record(logging.WARNING, "retry")]

    assert failures.filter(record(logging.INFO, "exporting")) is True
    assert failures.failed_recently() is False
    assert failures.filter(first) is True
    assert [failures.filter(r) for r in later] == [False, False]
    assert first.levelname == "WARNING"
    assert "telemetry collector unreachable" in first.getMessage()
    assert failures.suppressed == 2
    assert failures.failed_recently() is True
    clock.now += 61
    assert failures.failed_recently() is False


class StuckExporter(SpanExporter):
    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans: object) -> SpanExportResult:
        self.release.wait(60)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Stays stuck: only the test releases it, after the provider gave up."""


def test_after_a_failure_shutdown_waits_briefly_and_does_not_warn_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    installed = InstalledTelemetry("pricing", TelemetrySettings())
    stuck = StuckExporter()
    installed.tracer_provider.add_span_processor(BatchSpanProcessor(stuck))
    installed.tracer_provider.get_tracer("t").start_span("pending").end()
    logging.getLogger(EXPORTER_LOGGER).warning("Failed to export traces to collector:4317")

    with caplog.at_level(logging.INFO):
        try:
            # The caller allows an hour; the known-unreachable collector gets half a second.
            flushed = installed.shutdown(timeout_s=3600)
        finally:
            stuck.release.set()

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    not_flushed = [r for r in caplog.records if "not flushed" in r.getMessage()]
    assert flushed is False
    assert len(warnings) == 1
    assert not_flushed[0].levelname == "INFO"
    assert not_flushed[0].timeout_s == UNREACHABLE_SHUTDOWN_TIMEOUT_S  # type: ignore[attr-defined]


class FailingFlush:
    """A provider whose shutdown meets an unreachable collector, as the OTLP exporter
    does (it logs the failure, then retries), and hangs until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def shutdown(self) -> None:
        # Worded apart from the other tests' (the SDK's DuplicateFilter drops repeats).
        logging.getLogger(EXPORTER_LOGGER).warning("Failed to export metrics to otel:4317")
        self.release.wait(60)


def test_a_collector_found_unreachable_during_the_flush_cuts_the_wait(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first export is often the one at shutdown: its failure shortens the wait."""
    installed = InstalledTelemetry("pricing", TelemetrySettings())
    hanging = FailingFlush()
    monkeypatch.setattr(installed, "tracer_provider", hanging)

    with caplog.at_level(logging.INFO):
        try:
            flushed = installed.shutdown(timeout_s=3600)
        finally:
            hanging.release.set()

    not_flushed = [r for r in caplog.records if "not flushed" in r.getMessage()]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert flushed is False
    assert [r.levelname for r in not_flushed] == ["INFO"]
    assert not_flushed[0].timeout_s == UNREACHABLE_SHUTDOWN_TIMEOUT_S  # type: ignore[attr-defined]
    assert len(warnings) == 1
