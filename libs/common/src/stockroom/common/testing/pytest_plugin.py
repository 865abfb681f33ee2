"""Shared pytest fixtures: ``postgres_url`` (a fresh database) and ``sqlite_url``;
``pgbouncer`` and ``streaming_replica`` (one each per test session).

PostgreSQL tests are skipped on a developer machine without PostgreSQL, but
fail in CI (``CI=true``): the concurrency guarantees are only proven there.
With ``STOCKROOM_TEST_PGBOUNCER=1`` every PostgreSQL database a fixture hands
out is reached through one PgBouncer in transaction pooling mode (the URL
carries the statement settings that needs): the whole suite then runs behind
a pooler (docs/scaling.md).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from stockroom.common.testing._pgbouncer import PgBouncer, pgbouncer_binary, running_pgbouncer
from stockroom.common.testing._postgres import admin_url, postgres_reachable, temporary_database
from stockroom.common.testing._replica import Replica, streaming_replica

THROUGH_PGBOUNCER_ENV = "STOCKROOM_TEST_PGBOUNCER"


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


def through_pgbouncer() -> bool:
    return os.environ.get(THROUGH_PGBOUNCER_ENV, "").lower() in ("1", "true", "yes")


def require_pgbouncer() -> None:
    if pgbouncer_binary() is not None:
        return
    message = "pgbouncer is not installed (apt-get install pgbouncer)"
    if in_ci():
        pytest.fail(f"{message}; .ci/run installs it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """One PgBouncer (transaction pooling, 8 server connections per database) in front
    of the test PostgreSQL, for the whole session; ``pgbouncer.url(url)`` reaches a
    database through it."""
    require_pgbouncer()
    with running_pgbouncer(admin_url()) as started:
        yield started


@pytest.fixture(scope="session")
def streaming_replica_server() -> Iterator[Replica]:
    """A hot standby of the test PostgreSQL, made for the session and removed after it."""
    with ExitStack() as stack:
        try:
            replica = stack.enter_context(streaming_replica(admin_url()))
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
            message = f"could not make a streaming replica of {admin_url()} ({error})"
            hint = "; .ci/run runs scripts/ci_postgres_replication.sh"
            if in_ci():
                pytest.fail(message + hint, pytrace=False)
            pytest.skip(message + hint)
        yield replica


def _reachable(url: str, request: pytest.FixtureRequest) -> str:
    if not through_pgbouncer():
        return url
    require_pgbouncer()
    bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
    return bouncer.url(url)


@pytest.fixture
async def postgres_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    await require_postgres()
    async with temporary_database() as url:
        yield _reachable(url, request)


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
        yield _reachable(url, request)
