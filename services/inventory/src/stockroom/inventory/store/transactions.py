"""How the store runs a transaction: SQLite's write lock up front, conflicts retried inside.

PostgreSQL (and the distributed engines that speak its protocol) may abort a
transaction with a serialization failure or a deadlock; SQLite may report
itself busy. Those are not the caller's business: the whole transaction runs
again, a bounded number of times, with jittered backoff. What still fails
reaches the caller as ABORTED, which is safe to retry with the same request_id.
A database that cannot be reached, or a connection pool with no free
connection, is UNAVAILABLE (retryable) rather than INTERNAL. A pooled
connection found dead (the database restarted, its backend was terminated)
is not: the work runs once more on a fresh connection first
(``stockroom.common.db._engine``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import run_autocommit, run_transaction
from stockroom.common.errors import Aborted, Unavailable
from stockroom.inventory.domain.model import DOMAIN

logger = logging.getLogger(__name__)

T = TypeVar("T")

# serialization_failure, deadlock_detected (PostgreSQL error codes, appendix A).
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 0.005
BACKOFF_CAP_S = 0.2
_BEGIN_OPTION = "stockroom_sqlite_begin"
_WRITE_OPTIONS = {_BEGIN_OPTION: "IMMEDIATE"}


class ConcurrentChange(Exception):
    """What a transaction read changed under it, or another replica applied the same request
    id first: the transaction runs again from the start."""


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
    """Runs units of work in transactions, again when the database asks for it."""

    def __init__(self, engine: AsyncEngine) -> None:
        configure_engine(engine)
        self.engine = engine

    async def write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in a writing transaction, retried on conflicts."""
        return await self._run(
            lambda: run_transaction(self.engine, work, execution_options=_WRITE_OPTIONS)
        )

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work``, which only reads: on PostgreSQL without BEGIN and COMMIT (each
        statement its own snapshot, as under READ COMMITTED anyway); on SQLite in one
        transaction, so in one snapshot."""
        return await self._run(lambda: run_autocommit(self.engine, work))

    async def write_statement(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work``, one statement that is a whole write, as its own transaction (one
        round trip; PostgreSQL), retried on conflicts. It also runs again after a
        connection lost while committing: the statement must change nothing when it
        repeats one that committed (request-id records make it fail instead)."""
        return await self._run(lambda: run_autocommit(self.engine, work, repeatable=True))

    async def _run(self, attempt: Callable[[], Awaitable[T]]) -> T:
        tries = 0
        while True:
            tries += 1
            try:
                return await attempt()
            except PoolTimeout as error:
                raise Unavailable(
                    "every database connection is busy; retry shortly",
                    reason="DATABASE_BUSY",
                    domain=DOMAIN,
                    retry_after_s=BACKOFF_CAP_S,
                ) from error
            except OSError as error:
                raise _database_unavailable() from error
            except (DBAPIError, ConcurrentChange) as error:
                if isinstance(error, DBAPIError) and _lost_connection(error):
                    raise _database_unavailable() from error
                if not is_retryable(error):
                    raise
                if tries == MAX_ATTEMPTS:
                    logger.warning("transaction conflict persisted", extra={"attempts": tries})
                    raise Aborted(
                        "the transaction kept conflicting with concurrent ones; retry the request",
                        reason="TRANSACTION_CONFLICT",
                        domain=DOMAIN,
                        retry_after_s=BACKOFF_CAP_S,
                    ) from error
                # Full jitter (AWS architecture blog, "Exponential Backoff And Jitter").
                await asyncio.sleep(
                    random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**tries))
                )


def _lost_connection(error: DBAPIError) -> bool:
    return error.connection_invalidated or isinstance(error, InterfaceError)


def _database_unavailable() -> Unavailable:
    return Unavailable(
        "the inventory database is unreachable; retry shortly",
        reason="DATABASE_UNAVAILABLE",
        domain=DOMAIN,
        retry_after_s=1.0,
    )


def is_retryable(error: Exception) -> bool:
    if isinstance(error, ConcurrentChange):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)
