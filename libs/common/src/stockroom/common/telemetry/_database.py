"""Database spans and pool metrics for an async SQLAlchemy engine, a few microseconds each.

One CLIENT span per statement run while a *recorded* span is current (the
server span of a sampled call), named ``<OPERATION> <table>`` (``SELECT
stock_levels``, ``UPDATE stock_levels`` for a data-modifying CTE; see
``_statement_names``) with ``db.system``, ``db.name``, ``db.statement``,
``db.operation`` and the server's address; a failed statement's span is an
error. Statements run outside any recorded span (readiness pings,
migrations, background polling, calls not sampled) make no span at all.
``db.client.connections.usage`` counts idle and used connections per pool.

This was ``opentelemetry-instrumentation-sqlalchemy``'s ``EngineTracer``;
checked against 0.66b1, it parses the engine URL, the database name and the
operation out of every statement on every execution and starts a span even
when nothing will record it, and its pool counters build two attribute dicts
per checkout and checkin: about a tenth of a CheckAvailability's CPU with no
exporter configured (docs/performance.md). Here the per-engine and
per-statement values are computed once (statements are prebuilt, so a small
cache holds them all) and nothing runs that no one reads:

- ``instrument_engine`` installs the spans only when traces are recorded and
  ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` does not name ``sqlalchemy``
  (the OpenTelemetry convention for turning one instrumentation off), and
  the pool counters only when metrics are;
- the span scope keeps the package's name (``names.DATABASE_SCOPE``), so
  dashboards and queries written for it still match.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.telemetry import _names as names
from stockroom.common.telemetry._providers import Telemetry
from stockroom.common.telemetry._statement_names import statement_span_name

DISABLED_ENV = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
INSTRUMENTATION = "sqlalchemy"
# Prebuilt statements number in the tens; text built per call would grow without bound.
MAX_STATEMENTS = 512
_SPAN_ATTRIBUTE = "_stockroom_span"
_VENDORS = {"postgresql": "postgresql", "sqlite": "sqlite", "mysql": "mysql", "mssql": "mssql"}


def statement_spans_enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names ``sqlalchemy``."""
    raw = (os.environ if env is None else env).get(DISABLED_ENV, "")
    return INSTRUMENTATION not in {name.strip().lower() for name in raw.split(",")}


def instrument_engine(engine: AsyncEngine, telemetry: Telemetry) -> None:
    """Trace ``engine``'s statements and count its pooled connections, where anyone reads them."""
    sync_engine = engine.sync_engine
    if telemetry.traces_recorded and statement_spans_enabled():
        StatementSpans(telemetry.database_tracer, sync_engine).listen()
    if telemetry.metrics_recorded:
        PoolUsage(telemetry, sync_engine).listen()


class StatementSpans:
    """One span per statement under a recorded span; names and attributes cached per statement."""

    def __init__(self, tracer: trace.Tracer, engine: Engine) -> None:
        self._tracer = tracer
        self._engine = engine
        url = engine.url
        self._system = _VENDORS.get(engine.dialect.name, engine.dialect.name)
        self._database = url.database or ""
        base: dict[str, AttributeValue] = {
            names.DB_SYSTEM: self._system,
            names.DB_NAME: self._database,
        }
        if url.host:
            base[names.NET_PEER_NAME] = url.host
        if url.port:
            base[names.NET_PEER_PORT] = url.port
        if url.username:
            base[names.DB_USER] = url.username
        self._base = base
        self._statements: dict[str, tuple[str, dict[str, AttributeValue]]] = {}

    def listen(self) -> None:
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)
        event.listen(self._engine, "handle_error", self._error)

    def _before(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if not trace.get_current_span().is_recording():
            return
        described = self._statements.get(statement)
        if described is None:
            described = self._describe(statement)
        name, attributes = described
        span = self._tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)
        if context is not None:
            setattr(context, _SPAN_ATTRIBUTE, span)
        else:  # no execution context to carry it to the end: a span without a duration
            span.end()

    def _describe(self, statement: str) -> tuple[str, dict[str, AttributeValue]]:
        # ``SELECT stock_levels``: operation and table, comments skipped (_statement_names).
        name = statement_span_name(statement) or self._system
        operation = name.split(maxsplit=1)[0] if name != self._system else ""
        attributes = {**self._base, names.DB_STATEMENT: statement}
        if operation:
            attributes[names.DB_OPERATION] = operation
        if len(self._statements) < MAX_STATEMENTS:
            self._statements[statement] = (name, attributes)
        return name, attributes

    @staticmethod
    def _after(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        span = getattr(context, _SPAN_ATTRIBUTE, None)
        if span is not None:
            span.end()
            setattr(context, _SPAN_ATTRIBUTE, None)

    @staticmethod
    def _error(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, _SPAN_ATTRIBUTE, None)
        if span is None:
            return
        error = exception_context.original_exception
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()
        setattr(exception_context.execution_context, _SPAN_ATTRIBUTE, None)


class PoolUsage:
    """``db.client.connections.usage`` by state (idle, used), attribute sets built once."""

    def __init__(self, telemetry: Telemetry, engine: Engine) -> None:
        self._engine = engine
        self._counter = telemetry.database_connections
        url = engine.url
        name = engine.pool.logging_name or (
            f"{url.drivername}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
        )
        pool: dict[str, AttributeValue] = {names.POOL_NAME: name}
        self._idle = {**pool, names.POOL_STATE: "idle"}
        self._used = {**pool, names.POOL_STATE: "used"}

    def listen(self) -> None:
        event.listen(self._engine, "connect", self._connect)
        event.listen(self._engine, "close", self._close)
        event.listen(self._engine, "checkout", self._checkout)
        event.listen(self._engine, "checkin", self._checkin)

    def _connect(self, *_: Any) -> None:
        self._counter.add(1, self._idle)

    def _close(self, *_: Any) -> None:
        self._counter.add(-1, self._idle)

    def _checkout(self, *_: Any) -> None:
        self._counter.add(-1, self._idle)
        self._counter.add(1, self._used)

    def _checkin(self, *_: Any) -> None:
        self._counter.add(-1, self._used)
        self._counter.add(1, self._idle)
