"""Throwaway PostgreSQL databases: each test gets its own and drops it afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

# The server every developer and CI machine runs; override to point elsewhere.
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ADMIN_URL_ENV = "STOCKROOM_TEST_POSTGRES_URL"


def admin_url() -> str:
    return os.environ.get(ADMIN_URL_ENV, DEFAULT_ADMIN_URL)


def _dsn(sqlalchemy_url: str) -> str:
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


async def postgres_reachable(url: str | None = None, timeout_s: float = 3.0) -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        connection = await asyncpg.connect(_dsn(url or admin_url()), timeout=timeout_s)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await connection.close()
    return None


async def create_database(prefix: str = "stockroom_test") -> str:
    """Create a fresh, uniquely named database and return its SQLAlchemy URL."""
    base = admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _admin_execute(f'CREATE DATABASE "{name}"')
    return make_url(base).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    """Drop the database at ``url``, disconnecting whoever still uses it."""
    name = make_url(url).database
    await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def temporary_database(prefix: str = "stockroom_test") -> AsyncIterator[str]:
    """Create a fresh database, yield its SQLAlchemy URL, drop it afterwards."""
    url = await create_database(prefix)
    try:
        yield url
    finally:
        await drop_database(url)


async def _admin_execute(statement: str) -> None:
    admin = await asyncpg.connect(_dsn(admin_url()))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()
