"""Hot reads run by the driver itself, without SQLAlchemy's per-execution work.

For a small statement, SQLAlchemy's asyncio layer costs four to nine times
what asyncpg does: its execution context, result objects and greenlet
switches (``python -m benchmarks.statement_cost``; docs/performance.md, sixth
pass). A ``DriverRead`` is a read statement compiled once per dialect. On
PostgreSQL it runs as asyncpg's ``fetch`` on the connection SQLAlchemy
checked out, when:

- none of its parameters and result columns needs SQLAlchemy's type
  processing, other than arrays of such values and columns whose result
  processor it applies itself (checked once, when compiled);
- no recorded span is current. The statements of a sampled call go through
  SQLAlchemy, so they keep their database spans (``telemetry._database``);
- the connection is in autocommit (``run_autocommit``, where the hot reads
  run). In a transaction the statement goes through SQLAlchemy. SQLAlchemy
  sends BEGIN only with a transaction's first statement, so a first statement
  run by the driver would run outside the transaction, and its locks would not
  be held. And a failed statement aborts the transaction: running it again
  could not help.

Everything around the statement stays SQLAlchemy's: the pool, and
``run_autocommit``'s replica routing, outage tracking and retries. If asyncpg
raises (other than its command timeout, raised as SQLAlchemy raises it),
the statement runs once more through SQLAlchemy on the same connection. A
read changes nothing, so repeating it is safe, and SQLAlchemy then classifies
the failure as it always does: a ``DBAPIError`` with its SQLSTATE for
``retry_conflicts``, or a dead connection invalidated for ``run_autocommit``
to run the work once more on a fresh one. A failure that has passed is
simply answered.

A ``DriverWrite`` is the same for a write that is one statement and safe to
run again: run under ``run_autocommit`` with ``repeatable=True``, where a
repeat of a statement that did commit changes nothing or fails (inventory's
batch apply, whose request records fail a repeat). A statement is atomic: if
asyncpg raised, it either wrote nothing, or it committed and its connection
died before the answer came, which is the case ``repeatable`` already covers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from sqlalchemy import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import CompoundSelect, Select, TextClause

Row = Sequence[Any]
Statement = Select[Any] | CompoundSelect[Any] | TextClause
Processor = Callable[[Any], Any]
# The dialect and driver this runs on (name, driver); any other goes through SQLAlchemy.
DRIVER = ("postgresql", "asyncpg")


@dataclass(frozen=True)
class _Compiled:
    """The SQL and what it needs at run time, for one dialect."""

    sql: str
    # Each positional parameter: its name and its value when the statement fixes it.
    parameters: tuple[tuple[str, Any], ...]
    # The parameters a caller must give (SQLAlchemy says so when one is missing).
    required: frozenset[str]
    # The columns whose values need a result processor, by position, with it.
    processed: tuple[tuple[int, Processor], ...]


class DriverRead:
    """A read statement that runs on the driver's connection where it can (module doc)."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str], _Compiled | None] = {}

    def driver_ready(self, dialect: Dialect) -> bool:
        """Whether, on ``dialect``, the statement can run on the driver (tests use it)."""
        return self._for(dialect) is not None

    async def rows(self, connection: AsyncConnection, parameters: Mapping[str, Any]) -> list[Row]:
        """The statement's rows, by position, as SQLAlchemy would return them."""
        compiled = self._for(connection.dialect)
        if (
            compiled is None
            or not compiled.required <= parameters.keys()
            or trace.get_current_span().is_recording()
        ):
            return await self._through_sqlalchemy(connection, parameters)
        arguments = [parameters.get(name, fixed) for name, fixed in compiled.parameters]
        try:
            # The checked-out connection's, without a greenlet round (``get_raw_connection``).
            # If it was invalidated, reaching it raises, and SQLAlchemy takes over.
            checked_out: Any = connection.sync_connection.connection  # type: ignore[union-attr]
            autocommit = bool(checked_out.dbapi_connection.autocommit)
            driver: Any = checked_out.driver_connection
        except Exception:
            autocommit = False
        if not autocommit:  # in a transaction, or no connection to reach (module doc)
            return await self._through_sqlalchemy(connection, parameters)
        try:
            records = await driver.fetch(compiled.sql, *arguments)
        except TimeoutError:
            # The statement outlasted the connection's command timeout and asyncpg cancelled
            # it: SQLAlchemy would raise the same, and a second try would double the wait.
            raise
        except Exception:
            # Let SQLAlchemy run it, and classify the failure if it persists (module doc).
            return await self._through_sqlalchemy(connection, parameters)
        if not compiled.processed:
            return list(records)
        return [_processed(record, compiled.processed) for record in records]

    async def _through_sqlalchemy(
        self, connection: AsyncConnection, parameters: Mapping[str, Any]
    ) -> list[Row]:
        return list(await connection.execute(self.statement, dict(parameters)))

    def _for(self, dialect: Dialect) -> _Compiled | None:
        key = (dialect.name, dialect.driver)
        if key not in self._compiled:
            self._compiled[key] = _compile(self.statement, dialect) if key == DRIVER else None
        return self._compiled[key]


def _compile(statement: Statement, dialect: Dialect) -> _Compiled | None:
    """The statement for the driver, or None when SQLAlchemy must process its values."""
    compiled = statement.compile(dialect=dialect)
    names = list(compiled.positiontup or [])
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding or bind.literal_execute or not _passes_as_is(bind.type, dialect):
            return None
    # A text statement says nothing of its columns: its rows are the driver's.
    columns = () if isinstance(statement, TextClause) else statement.selected_columns
    processors = (
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    return _Compiled(
        str(compiled),
        tuple((name, compiled.params.get(name)) for name in names),
        frozenset(name for name in names if compiled.binds[name].required),
        tuple((index, process) for index, process in enumerate(processors) if process),
    )


def _passes_as_is(type_: Any, dialect: Dialect) -> bool:
    """A value of ``type_`` needs no conversion on its way to the driver (an array: if its
    items need none; the driver takes the list)."""
    implementation = type_.dialect_impl(dialect)
    if isinstance(implementation, ARRAY):
        return _passes_as_is(implementation.item_type, dialect)
    return implementation.bind_processor(dialect) is None


def _processed(record: Row, processed: Sequence[tuple[int, Processor]]) -> tuple[Any, ...]:
    """The record's values, those of ``processed`` columns through their processors (most
    columns have none: they are not visited)."""
    values = list(record)
    for index, process in processed:
        values[index] = process(values[index])
    return tuple(values)


class DriverWrite(DriverRead):
    """A one-statement write that is safe to run again, run like a ``DriverRead``
    (module doc): only under ``run_autocommit(..., repeatable=True)``."""
