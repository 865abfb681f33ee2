"""Async SQLAlchemy engines and Alembic migrations, the same way in every service.

SQLite (aiosqlite) is the embedded default and PostgreSQL (asyncpg) the
production database; a service passes any SQLAlchemy URL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from stockroom.common.telemetry.database import instrument_engine
from stockroom.common.telemetry.providers import GLOBAL_TELEMETRY, Telemetry

# SQLite waits this long for a competing writer instead of failing at once.
SQLITE_BUSY_TIMEOUT_MS = 5000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str, *, telemetry: Telemetry = GLOBAL_TELEMETRY, **engine_options: Any
) -> AsyncEngine:
    """Create an async engine with settings that suit a gRPC service.

    SQLite gets WAL, a busy timeout and foreign keys on every connection;
    PostgreSQL gets pre-ping so a restarted database does not fail the first
    call after it returns. Every statement is a span (a child of the call
    being served) and the pool's use is a metric
    (``stockroom.common.telemetry.database``).
    """
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **engine_options)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    else:
        engine_options.setdefault("pool_pre_ping", True)
        engine_options.setdefault("pool_size", 10)
        engine_options.setdefault("max_overflow", 10)
        engine = create_async_engine(url, **engine_options)
    instrument_engine(engine, telemetry)
    return engine


def upsert_insert(connection: AsyncConnection, table: Table) -> Any:
    """An INSERT for ``table`` that supports ``on_conflict_do_update`` on this dialect.

    PostgreSQL and SQLite both have ``INSERT ... ON CONFLICT``, but SQLAlchemy
    builds it from dialect-specific ``insert`` constructs.
    """
    if connection.dialect.name == "sqlite":
        return sqlite_insert(table)
    return postgresql_insert(table)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database does not answer a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def alembic_config(script_location: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def migrate(script_location: Path, url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` with the service's migrations.

    Alembic's command API is synchronous and the env.py scripts run their own
    event loop for the async engine, so the upgrade runs in a worker thread.
    """
    await asyncio.to_thread(command.upgrade, alembic_config(script_location, url), revision)
