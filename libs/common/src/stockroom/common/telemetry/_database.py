"""Database spans and pool metrics for an async SQLAlchemy engine.

``opentelemetry-instrumentation-sqlalchemy`` listens to an engine's events:
one CLIENT span per statement (``db.system``, ``db.name``, ``db.statement``,
``db.operation``), children of whatever span is current (grpc.aio handlers
and SQLAlchemy's greenlets share the context), and the
``db.client.connections.usage`` counter (idle and used connections per pool).
Its ``SQLAlchemyInstrumentor`` instruments only once per process and patches
``create_engine`` globally, so each engine is handed to its ``EngineTracer``
directly, through the async engine's ``sync_engine``, with our providers. Spans are
named ``{operation} {table}`` (``_statement_names``), not ``{first word} {database}``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.telemetry._providers import Telemetry
from stockroom.common.telemetry._statement_names import statement_span_name


def instrument_engine(engine: AsyncEngine, telemetry: Telemetry) -> None:
    """Trace every statement ``engine`` runs and count its pooled connections.

    Without the ``telemetry`` extra (no SQLAlchemy instrumentation installed)
    the engine runs untraced: the database spans are the extra's job.
    """
    try:
        from opentelemetry.instrumentation.sqlalchemy.engine import (
            EngineTracer,
        )
    except ImportError:
        return

    class NamedEngineTracer(EngineTracer):
        def _operation_name(self, db_name: str, statement: object) -> str:
            name = statement_span_name(statement) if isinstance(statement, str) else None
            return name or str(super()._operation_name(db_name, statement))  # type: ignore[no-untyped-call]

    NamedEngineTracer(  # type: ignore[no-untyped-call]
        telemetry.database_tracer, engine.sync_engine, telemetry.database_connections
    )
