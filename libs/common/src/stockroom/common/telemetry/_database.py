"""Database spans and pool metrics for an async SQLAlchemy engine.

``opentelemetry-instrumentation-sqlalchemy`` listens to an engine's events:
one CLIENT span per statement (``db.system``, ``db.name``, ``db.statement``,
``db.operation``), children of whatever span is current (grpc.aio handlers
and SQLAlchemy's greenlets share the context), and the
``db.client.connections.usage`` counter (idle and used connections per pool).
Its ``SQLAlchemyInstrumentor`` instruments only once per process and patches
``create_engine`` globally, so each engine is handed to its ``EngineTracer``
directly, through the async engine's ``sync_engine``, with our providers.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.telemetry._providers import Telemetry


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
    EngineTracer(  # type: ignore[no-untyped-call]
        telemetry.database_tracer, engine.sync_engine, telemetry.database_connections
    )
