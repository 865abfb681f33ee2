"""What the hot path does not do: no SDK for a signal with nothing to export, no grpc
interceptor, the stack built once per method, no span for a statement that no recorded span
asked for, metric attributes built once; and what it still does without an SDK: carry a
caller's trace to the logs and to the calls it makes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from stockroom.common.client import connect
from stockroom.common.db import create_engine
from stockroom.common.server import Context, ServiceRegistration
from stockroom.common.server import _stack as stack_module
from stockroom.common.telemetry import Telemetry
from stockroom.common.telemetry import _names as names
from stockroom.common.telemetry._database import DISABLED_ENV, statement_spans_enabled
from stockroom.common.telemetry._server import MethodTelemetry

from .conftest import ServeFactory, SpanRecorder, unary

SERVICE = "stockroom.testing.Hot"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def configured_providers(env: dict[str, str]) -> list[str]:
    """The global provider types after ``configure_telemetry`` in a fresh interpreter."""
    code = textwrap.dedent(
        """
        from opentelemetry import metrics, trace
        from stockroom.common.telemetry import configure_telemetry
        installed = configure_telemetry("hot")
        print(type(trace.get_tracer_provider()).__name__)
        print(type(metrics.get_meter_provider()).__name__)
        installed.shutdown(1)
        """
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


def test_with_nothing_to_export_no_sdk_is_installed() -> None:
    assert configured_providers({}) == ["ProxyTracerProvider", "_ProxyMeterProvider"]


def test_each_signal_gets_the_sdk_only_when_it_has_an_exporter() -> None:
    traces_only = {"OTEL_TRACES_EXPORTER": "console"}
    assert configured_providers(traces_only) == ["TracerProvider", "_ProxyMeterProvider"]
    metrics_only = {"OTEL_METRICS_EXPORTER": "console"}
    assert configured_providers(metrics_only) == ["ProxyTracerProvider", "MeterProvider"]


class Recorder:
    """A servicer method that notes the trace id current while it runs."""

    def __init__(self) -> None:
        self.trace_ids: list[int] = []

    async def call(self, request: bytes, context: Context) -> bytes:
        self.trace_ids.append(trace.get_current_span().get_span_context().trace_id)
        return request

    def registration(self) -> ServiceRegistration:
        def add(server: grpc.aio.Server) -> None:
            handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(
                self.call
            )
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(SERVICE, {"Call": handler}),)
            )

        return ServiceRegistration(SERVICE, add)


async def test_without_an_sdk_a_callers_trace_is_still_current_but_nothing_is_recorded(
    serve: ServeFactory,
) -> None:
    recorder = Recorder()
    async with serve(recorder.registration()) as address, connect(address) as channel:
        await unary(channel, f"/{SERVICE}/Call")(b"x", metadata=(("traceparent", TRACEPARENT),))
        await unary(channel, f"/{SERVICE}/Call")(b"x")

    assert recorder.trace_ids == [0x0AF7651916CD43DD8448EB211C80319C, 0]


async def test_the_server_installs_no_grpc_interceptor_and_wraps_each_method_once(
    serve: ServeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrapped: list[str] = []
    original = stack_module.ServerStack.wrap

    def counting(self: stack_module.ServerStack, method: str, handler: Any) -> Any:
        wrapped.append(method)
        return original(self, method, handler)

    monkeypatch.setattr(stack_module.ServerStack, "wrap", counting)
    created: list[Any] = []
    real_server = grpc.aio.server

    def server(*args: Any, **kwargs: Any) -> Any:
        created.append(kwargs.get("interceptors"))
        return real_server(*args, **kwargs)

    monkeypatch.setattr(grpc.aio, "server", server)
    recorder = Recorder()
    async with serve(recorder.registration()) as address, connect(address) as channel:
        for _ in range(5):
            await unary(channel, f"/{SERVICE}/Call")(b"x")

    assert len(recorder.trace_ids) == 5
    assert wrapped == [f"/{SERVICE}/Call"]
    assert created == [()]


def test_metric_attributes_are_built_once_per_method_and_code(
    span_recorder: SpanRecorder,
) -> None:
    method = MethodTelemetry(f"/{SERVICE}/Call", span_recorder.telemetry)
    first = method._metric_attributes(0)
    assert method._metric_attributes(0) is first
    assert first == {
        names.RPC_SYSTEM: "grpc",
        names.RPC_SERVICE: SERVICE,
        names.RPC_METHOD: "Call",
        names.RPC_GRPC_STATUS_CODE: 0,
    }
    assert method._metric_attributes(5) is not first


async def test_statements_make_spans_only_under_a_recorded_span(
    span_recorder: SpanRecorder, tmp_path: Path
) -> None:
    engine = create_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'hot.db'}", telemetry=span_recorder.telemetry
    )
    unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("t")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))  # no span current
            with unsampled.start_as_current_span("not sampled"):
                await connection.execute(text("SELECT 2"))
            with span_recorder.tracer.start_as_current_span("request"):
                await connection.execute(text("SELECT 3"))
                await connection.execute(text("SELECT 3"))
    finally:
        await engine.dispose()

    statements = span_recorder.spans(SpanKind.CLIENT)
    assert [s.attributes and s.attributes[names.DB_STATEMENT] for s in statements] == [
        "SELECT 3",
        "SELECT 3",
    ]
    assert statements[0].name.startswith("SELECT")
    assert statements[0].instrumentation_scope is not None
    assert statements[0].instrumentation_scope.name == names.DATABASE_SCOPE


async def test_database_spans_can_be_turned_off_and_the_pool_is_still_measured(
    span_recorder: SpanRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLED_ENV, "grpc, sqlalchemy")
    engine = create_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'hot.db'}", telemetry=span_recorder.telemetry
    )
    try:
        with span_recorder.tracer.start_as_current_span("request"):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()

    assert span_recorder.spans(SpanKind.CLIENT) == []
    assert span_recorder.points(names.DB_CLIENT_CONNECTIONS_USAGE) != []


def test_only_the_named_instrumentation_is_disabled() -> None:
    assert statement_spans_enabled({})
    assert statement_spans_enabled({DISABLED_ENV: "grpc,requests"})
    assert not statement_spans_enabled({DISABLED_ENV: "grpc, SQLAlchemy"})


def test_nothing_is_installed_for_an_engine_when_nothing_is_recorded(tmp_path: Path) -> None:
    telemetry = Telemetry()
    assert not telemetry.traces_recorded
    assert not telemetry.metrics_recorded
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hot.db'}", telemetry=telemetry)
    assert not engine.sync_engine.dispatch.before_cursor_execute
    assert not engine.sync_engine.pool.dispatch.checkout
