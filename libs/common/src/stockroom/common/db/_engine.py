"""Async SQLAlchemy engines and Alembic migrations, the same way in every service.

SQLite (aiosqlite) is the embedded default and PostgreSQL (asyncpg) the
production database; a service passes any SQLAlchemy URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import ARRAY, ColumnElement, Table, any_, bindparam, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from stockroom.common._pooler import CACHE_PARAMETERS
from stockroom.common._read_scope import current_read_call
from stockroom.common.db._cancelled_connects import quiet_cancelled_connects
from stockroom.common.db._conflicts import retry_conflicts
from stockroom.common.db._outage import OUTAGE
from stockroom.common.db._read_routing import replica_of
from stockroom.common.errors._errors import DEFAULT_DOMAIN
from stockroom.common.telemetry._database import instrument_engine
from stockroom.common.telemetry._providers import GLOBAL_TELEMETRY, Telemetry

# SQLite waits this long for a competing writer instead of failing at once.
SQLITE_BUSY_TIMEOUT_MS = 5000
# PostgreSQL: seconds to open a connection, to run one statement, to wait for a pooled
# connection. All well under the 2 s a caller gives a call by default.
CONNECT_TIMEOUT_S = 1.0
STATEMENT_TIMEOUT_S = 1.5
POOL_TIMEOUT_S = 1.0

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.db")

T = TypeVar("T")
Work = Callable[[AsyncConnection], Awaitable[T]]


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def engine_arguments(url: str) -> tuple[URL, dict[str, Any]]:
    """``url`` without the statement-cache parameters, and those as asyncpg connect arguments.

    They may be written in the URL (``?statement_cache_size=0&...``), where
    SQLAlchemy would hand them to asyncpg as strings; they must be ints.
    """
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    for name in CACHE_PARAMETERS:
        if name in parsed.query:
            raw = parsed.query[name]
            connect_args[name] = int(raw if isinstance(raw, str) else raw[-1])
    if connect_args:
        parsed = parsed.difference_update_query(CACHE_PARAMETERS)
    return parsed, connect_args


def create_engine(
    url: str, *, telemetry: Telemetry = GLOBAL_TELEMETRY, **engine_options: Any
) -> AsyncEngine:
    """Create an async engine with settings that suit a gRPC service.

    SQLite gets WAL, a busy timeout and foreign keys on every connection.
    PostgreSQL connections are not pinged before use (a ping is a round trip,
    three with SQLAlchemy's asyncpg dialect); a restarted database or a killed
    backend is handled optimistically instead: see ``discard_closed_connections``
    and ``run_autocommit``/``run_transaction``. Every statement run for a
    traced call is a span (its child) and the pool's use is a metric, when
    traces and metrics are recorded (``stockroom.common.telemetry``).
    Statement-cache parameters in the URL (what a transaction pooler needs,
    ``stockroom.common._pooler``) become asyncpg connect arguments. Made on a
    running loop, a PostgreSQL engine quiets that loop's report of the error a
    cancelled connect leaves unread (``_cancelled_connects``).
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
        engine_options.setdefault("pool_size", 10)
        engine_options.setdefault("max_overflow", 10)
        # Fail fast, well inside a caller's deadline (2 s by default), when the database
        # is unreachable or the pool is used up: the caller gets UNAVAILABLE with
        # RetryInfo (``_outage``) instead of waiting out its whole deadline.
        engine_options.setdefault("pool_timeout", POOL_TIMEOUT_S)
        parsed, connect_args = engine_arguments(url)
        engine_options["connect_args"] = {
            "timeout": CONNECT_TIMEOUT_S,
            "command_timeout": STATEMENT_TIMEOUT_S,
            **connect_args,
            **engine_options.get("connect_args", {}),
        }
        engine = create_async_engine(parsed, **engine_options)
        discard_closed_connections(engine)
        with contextlib.suppress(RuntimeError):  # no loop runs yet: connections come later
            quiet_cancelled_connects(asyncio.get_running_loop())
    instrument_engine(engine, telemetry)
    return engine


DIALECTS = ("postgresql", "sqlite")


def one_of(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """``column`` equals one of the values of the list bound as ``name``, on ``dialect``.

    PostgreSQL gets ``= ANY(:name)`` with the list as one array parameter, so
    a statement built once compiles once; an expanding IN (what SQLite needs)
    is re-rendered for every execution, which costs more than the query on
    a hot path. Build such statements per dialect (``DIALECTS``) and pick
    one by ``connection.dialect.name``.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


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

    async def select_one(connection: AsyncConnection) -> None:
        await connection.execute(text("SELECT 1"))

    await run_autocommit(engine, select_one)


def discard_closed_connections(engine: AsyncEngine) -> None:
    """Never hand out a pooled connection whose server side is known to be gone.

    asyncpg notices when the server closes a socket (a restart, a terminated
    backend, an idle timeout) and says so in ``is_closed()``, which costs no
    round trip, unlike a ping; such a connection is replaced at checkout. A
    connection that dies unnoticed is caught by the runners below.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _discard_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        is_closed = getattr(driver, "is_closed", None)
        if is_closed is not None and is_closed():
            raise DisconnectionError("the server closed this pooled connection")


def lost_connection(error: BaseException) -> bool:
    """Whether ``error`` is a statement failing because its connection was dead.

    SQLAlchemy has then invalidated the connection (and every pooled one
    older than it), so the next checkout gets a fresh one.
    """
    return isinstance(error, DBAPIError) and error.connection_invalidated


async def run_transaction(
    engine: AsyncEngine,
    work: Work[T],
    *,
    execution_options: Mapping[str, Any] | None = None,
    repeatable: bool = False,
    domain: str = DEFAULT_DOMAIN,
) -> T:
    """Run ``work`` in one transaction and commit it: the one transaction runner.

    A conflict (deadlock, serialization failure, SQLite busy, or ``work``
    raising ``RetryTransaction``; nothing committed) runs ``work`` again with
    jittered backoff, ``CONFLICT_ATTEMPTS`` times in all, then raises
    ``TransactionConflict`` (ABORTED, TRANSACTION_CONFLICT, RetryInfo; its
    ``domain`` is the caller's). A database that cannot be reached reaches the
    caller as UNAVAILABLE with RetryInfo (the error mapping asks
    ``stockroom.common.db._outage``). If the connection turns out to be dead
    before COMMIT was sent, nothing can have been committed, so ``work`` runs
    once more on a fresh connection. A connection lost during COMMIT leaves
    the outcome unknown: the error is raised, unless ``repeatable`` says a
    repeat of a committed attempt changes nothing (the work is keyed by a
    request id).
    """
    committing = False

    async def attempt() -> T:
        nonlocal committing
        committing = False
        async with engine.connect() as connection:
            if execution_options:
                await connection.execution_options(**execution_options)
            async with connection.begin():
                result = await work(connection)
                committing = True
            return result

    return await retry_conflicts(
        lambda: _once_more_if_lost(attempt, lambda: repeatable or not committing),
        domain=domain,
    )


async def run_autocommit(
    engine: AsyncEngine,
    work: Work[T],
    *,
    repeatable: bool = True,
    domain: str = DEFAULT_DOMAIN,
) -> T:
    """Run ``work`` with each statement committing on its own (PostgreSQL).

    For reads and for writes that are one statement: no BEGIN and COMMIT, so
    one round trip per statement instead of three. A read loses nothing:
    under READ COMMITTED, PostgreSQL's default, each statement of a
    transaction takes a new snapshot anyway. Other databases (SQLite, where
    a transaction costs no round trip) run ``work`` in one transaction.

    ``work`` runs once more on a fresh connection if its connection was dead;
    for a write, pass ``repeatable=False`` unless repeating an attempt that
    did commit changes nothing. Conflicts are retried as by ``run_transaction``.

    In a call that tolerates stale reads (``stockroom.common._read_scope``)
    on an engine with a read replica, ``work`` runs on the replica when it is
    fresh enough; such calls only read (their methods are declared free of
    side effects), and a write there would fail: a replica is read-only.
    """
    if engine.dialect.name != "postgresql":
        return await run_transaction(engine, work, repeatable=repeatable, domain=domain)
    call = current_read_call()
    if call is not None:
        replica = replica_of(engine)
        if replica is not None:
            served = await replica.try_read(work, call)
            if served is not None:
                return served[0]
    autocommit = _autocommit_engine(engine)

    async def attempt() -> T:
        async with autocommit.connect() as connection:
            return await work(connection)

    return await retry_conflicts(
        lambda: _once_more_if_lost(attempt, lambda: repeatable), domain=domain
    )


_AUTOCOMMIT_ENGINES: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = (
    weakref.WeakKeyDictionary()
)


def _autocommit_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` with AUTOCOMMIT connections, on the same pool (made once per engine)."""
    autocommit = _AUTOCOMMIT_ENGINES.get(engine)
    if autocommit is None:
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        _AUTOCOMMIT_ENGINES[engine] = autocommit
    return autocommit


async def _once_more_if_lost(
    attempt: Callable[[], Awaitable[T]], may_repeat: Callable[[], bool]
) -> T:
    try:
        result = await attempt()
    except DBAPIError as error:
        if not (error.connection_invalidated and may_repeat()):
            raise
        logger.info(
            "the database connection was dead; running the work once more on a fresh one",
            extra={"error": str(error.orig).splitlines()[0] if str(error.orig) else ""},
        )
        result = await attempt()
    if OUTAGE.ongoing:
        OUTAGE.succeeded()
    return result


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
