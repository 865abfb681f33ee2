"""Shared pytest fixtures: ``postgres_url`` (a fresh database) and ``sqlite_url``.

PostgreSQL tests are skipped on a developer machine without PostgreSQL, but
fail in CI (``CI=true``): the concurrency guarantees are only proven there.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stockroom.common.testing._postgres import admin_url, postgres_reachable, temporary_database


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def require_postgres() -> None:
    problem = await postgres_reachable()
    if problem is None:
        return
    message = f"PostgreSQL at {admin_url()} is not reachable ({problem})"
    if in_ci():
        pytest.fail(f"{message}; CI must run the PostgreSQL tests", pytrace=False)
    pytest.skip(message)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    await require_postgres()
    async with temporary_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a new SQLite database file in the test's temporary directory."""
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Runs the test once on SQLite and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    await require_postgres()
    async with temporary_database() as url:
        yield url
