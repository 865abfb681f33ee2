"""A dead pooled connection costs a reconnect, not a failed call (``stockroom.common.db._engine``).

Connections are not pinged before use; these tests kill the backends of
pooled and checked-out connections for real (``pg_terminate_backend``) or
reset them on the wire (a database restart, as the client sees it), and the
next unit of work still succeeds, unless repeating it could apply a write twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import create_engine, lost_connection, run_autocommit, run_transaction
from stockroom.common.testing import FaultProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    yield engine
    await engine.dispose()


async def terminate(url: str, pid: int) -> None:
    """Terminate one backend from another connection and wait until it has exited."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    finally:
        await admin.close()


async def backend_pid(connection: AsyncConnection) -> int:
    return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_pooled_connection_whose_backend_was_terminated_is_replaced_unseen(
    engine: AsyncEngine, postgres_url: str
) -> None:
    first = await run_autocommit(engine, backend_pid)
    await terminate(postgres_url, first)

    second = await run_autocommit(engine, backend_pid)
    in_transaction = await run_transaction(engine, backend_pid)

    assert second != first
    assert in_transaction == second


async def test_every_pooled_connection_reset_on_the_wire_is_replaced(postgres_url: str) -> None:
    url = make_url(postgres_url)
    async with FaultProxy(f"{url.host}:{url.port or 5432}") as proxy:
        host, port = proxy.address.rsplit(":", 1)
        engine = create_engine(url.set(host=host, port=int(port)).render_as_string(False))
        try:
            before = await run_autocommit(engine, backend_pid)
            proxy.drop_connections()  # what clients see when the database restarts
            after = await run_autocommit(engine, backend_pid)
        finally:
            await engine.dispose()

    assert after != before


def dies_once(url: str, attempts: list[int]) -> Callable[[AsyncConnection], Awaitable[int]]:
    """Work whose connection dies under it the first time, after it started (so no
    check at checkout could have seen it)."""

    async def work(connection: AsyncConnection) -> int:
        pid = await backend_pid(connection)
        attempts.append(pid)
        if len(attempts) == 1:
            await terminate(url, pid)
        return int((await connection.execute(text("SELECT 41 + 1"))).scalar_one())

    return work


async def test_a_transaction_whose_connection_dies_before_commit_runs_once_more(
    engine: AsyncEngine, postgres_url: str
) -> None:
    attempts: list[int] = []

    result = await run_transaction(engine, dies_once(postgres_url, attempts))

    assert result == 42
    assert len(attempts) == 2
    assert attempts[0] != attempts[1]


async def test_a_read_whose_connection_dies_runs_once_more(
    engine: AsyncEngine, postgres_url: str
) -> None:
    attempts: list[int] = []

    result = await run_autocommit(engine, dies_once(postgres_url, attempts))

    assert result == 42
    assert len(attempts) == 2


async def test_a_write_that_may_have_committed_is_not_repeated_unless_repeatable(
    engine: AsyncEngine, postgres_url: str
) -> None:
    attempts: list[int] = []

    with pytest.raises(DBAPIError) as raised:
        await run_autocommit(
            engine,
            dies_once(postgres_url, attempts),
            repeatable=False,
        )

    assert lost_connection(raised.value)
    assert len(attempts) == 1
    assert await run_autocommit(engine, backend_pid) != attempts[0]
