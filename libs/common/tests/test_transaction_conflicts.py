"""Conflicts are retried by the one transaction runner, and only by it (``_conflicts``).

A unit of work that raises ``RetryTransaction``, a deadlock (simulated, and a
real one on PostgreSQL) and SQLite busy each run the work again; after
``CONFLICT_ATTEMPTS`` attempts the caller gets ABORTED TRANSACTION_CONFLICT
with RetryInfo. Attempts are counted, so a second retry layer would show.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import (
    CONFLICT_ATTEMPTS,
    RetryTransaction,
    TransactionConflict,
    create_engine,
    retryable_conflict,
    run_autocommit,
    run_transaction,
)
from stockroom.common.errors import Aborted


class _Deadlock(Exception):
    """What asyncpg raises for a deadlock, as far as the runner looks: its SQLSTATE."""

    sqlstate = "40P01"


def deadlock() -> DBAPIError:
    return DBAPIError("UPDATE levels SET on_hand = 1", None, _Deadlock("deadlock detected"))


@pytest.fixture
async def sqlite() -> AsyncIterator[AsyncEngine]:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    yield engine
    await engine.dispose()


async def test_retry_transaction_runs_the_work_again_until_it_succeeds(
    sqlite: AsyncEngine,
) -> None:
    attempts: list[int] = []

    async def work(connection: AsyncConnection) -> int:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            raise RetryTransaction("what this read changed")
        return int((await connection.execute(text("SELECT 42"))).scalar_one())

    assert await run_transaction(sqlite, work) == 42
    assert attempts == [1, 2, 3]


async def test_spent_retries_are_aborted_transaction_conflict_with_retry_info(
    sqlite: AsyncEngine,
) -> None:
    attempts = 0

    async def work(_connection: AsyncConnection) -> None:
        nonlocal attempts
        attempts += 1
        raise RetryTransaction("always changed")

    with pytest.raises(TransactionConflict) as raised:
        await run_transaction(sqlite, work, domain="inventory.stockroom")
    assert attempts == CONFLICT_ATTEMPTS
    error = raised.value
    assert isinstance(error, Aborted)
    assert (error.code, error.reason, error.domain) == (
        "ABORTED",
        "TRANSACTION_CONFLICT",
        "inventory.stockroom",
    )
    assert error.retry_after_s is not None
    assert error.retry_after_s > 0
    assert isinstance(error.__cause__, RetryTransaction)


@pytest.mark.parametrize("runner", ["transaction", "autocommit"])
async def test_a_deadlock_is_retried_by_exactly_one_layer(sqlite: AsyncEngine, runner: str) -> None:
    attempts = 0

    async def work(_connection: AsyncConnection) -> None:
        nonlocal attempts
        attempts += 1
        raise deadlock()

    run = run_transaction if runner == "transaction" else run_autocommit
    with pytest.raises(TransactionConflict):
        await run(sqlite, work)
    assert attempts == CONFLICT_ATTEMPTS


async def test_a_deadlock_once_costs_one_more_attempt(sqlite: AsyncEngine) -> None:
    attempts = 0

    async def work(_connection: AsyncConnection) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise deadlock()
        return "done"

    assert await run_transaction(sqlite, work) == "done"
    assert attempts == 2


def test_what_counts_as_a_conflict() -> None:
    assert retryable_conflict(deadlock())
    assert retryable_conflict(RetryTransaction())
    assert retryable_conflict(OperationalError("BEGIN", None, Exception("database is locked")))
    assert not retryable_conflict(OperationalError("SELECT", None, Exception("no such table")))
    assert not retryable_conflict(ValueError("bad input"))


async def test_other_errors_are_not_retried(sqlite: AsyncEngine) -> None:
    attempts = 0

    async def work(_connection: AsyncConnection) -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError("a bug, not a conflict")

    with pytest.raises(ValueError, match="a bug"):
        await run_transaction(sqlite, work)
    assert attempts == 1


@pytest.mark.postgres
async def test_a_real_postgresql_deadlock_is_retried_once_by_the_runner(
    postgres_url: str,
) -> None:
    """Two transactions lock two rows in opposite orders: PostgreSQL aborts one with
    40P01, the runner runs it again, and both commit; three attempts in all."""
    engine = create_engine(postgres_url)
    try:
        await run_autocommit(engine, _create_rows)
        locked = {"first": asyncio.Event(), "second": asyncio.Event()}
        attempts: list[str] = []

        def crossing(
            name: str, mine: int, theirs: int, other: str
        ) -> Callable[[AsyncConnection], Awaitable[None]]:
            async def work(connection: AsyncConnection) -> None:
                attempts.append(name)
                await _bump(connection, mine)
                locked[name].set()
                await asyncio.wait_for(locked[other].wait(), timeout=30)
                await _bump(connection, theirs)

            return work

        await asyncio.gather(
            run_transaction(engine, crossing("first", 1, 2, "second")),
            run_transaction(engine, crossing("second", 2, 1, "first")),
        )
        assert len(attempts) == 3
        assert sorted(attempts.count(name) for name in locked) == [1, 2]

        async def totals(connection: AsyncConnection) -> list[int]:
            rows = await connection.execute(text("SELECT n FROM crossing ORDER BY id"))
            return [int(n) for n in rows.scalars()]

        assert await run_autocommit(engine, totals) == [2, 2]
    finally:
        await engine.dispose()


async def _create_rows(connection: AsyncConnection) -> None:
    await connection.execute(text("DROP TABLE IF EXISTS crossing"))
    await connection.execute(text("CREATE TABLE crossing (id int PRIMARY KEY, n int NOT NULL)"))
    await connection.execute(text("INSERT INTO crossing VALUES (1, 0), (2, 0)"))


async def _bump(connection: AsyncConnection, row: int) -> None:
    await connection.execute(text("UPDATE crossing SET n = n + 1 WHERE id = :id"), {"id": row})
