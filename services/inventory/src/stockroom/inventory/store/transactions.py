"""How the store runs a transaction: common's one runner, with SQLite's write lock up front.

Everything else is ``stockroom.common.db``'s: a serialization failure, a
deadlock, SQLite busy or ``ConcurrentChange`` runs the whole transaction again
(bounded, jittered) and then reaches the caller as ABORTED TRANSACTION_CONFLICT,
safe to retry with the same request_id; an unreachable database or a used-up
connection pool is UNAVAILABLE DATABASE_UNAVAILABLE with RetryInfo; a pooled
connection found dead is replaced and the work runs once more. This adapter
adds no retry loop of its own: attempts would multiply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import RetryTransaction, run_autocommit, run_transaction
from stockroom.inventory.domain.model import DOMAIN

T = TypeVar("T")

_BEGIN_OPTION = "stockroom_sqlite_begin"
_WRITE_OPTIONS = {_BEGIN_OPTION: "IMMEDIATE"}


class ConcurrentChange(RetryTransaction):
    """What a transaction read changed under it, or another replica applied the same request
    id first: common's runner runs the transaction again from the start."""


def configure_engine(engine: AsyncEngine) -> None:
    """On SQLite, let the store emit BEGIN itself so writers can take the write lock at once.

    SQLite upgrades a read transaction to a write transaction lazily; two
    transactions that both read, then both want to write, wait on each other
    until one fails with SQLITE_BUSY. BEGIN IMMEDIATE takes the write lock at
    the start, so writers queue instead (SQLAlchemy's documented recipe for
    pysqlite/aiosqlite transaction control).
    """
    if engine.dialect.name != "sqlite" or event.contains(engine.sync_engine, "begin", _begin):
        return
    event.listen(engine.sync_engine, "connect", _driver_autocommit)
    event.listen(engine.sync_engine, "begin", _begin)


def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


class Transactions:
    """Runs units of work through common's transaction runner, errors in inventory's domain."""

    def __init__(self, engine: AsyncEngine) -> None:
        configure_engine(engine)
        self.engine = engine

    async def write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in a writing transaction, retried on conflicts."""
        return await run_transaction(
            self.engine, work, execution_options=_WRITE_OPTIONS, domain=DOMAIN
        )

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work``, which only reads: on PostgreSQL without BEGIN and COMMIT (each
        statement its own snapshot, as under READ COMMITTED anyway); on SQLite in one
        transaction, so in one snapshot."""
        return await run_autocommit(self.engine, work, domain=DOMAIN)

    async def write_statement(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work``, one statement that is a whole write, as its own transaction (one
        round trip; PostgreSQL), retried on conflicts. It also runs again after a
        connection lost while committing: the statement must change nothing when it
        repeats one that committed (request-id records make it fail instead)."""
        return await run_autocommit(self.engine, work, repeatable=True, domain=DOMAIN)
