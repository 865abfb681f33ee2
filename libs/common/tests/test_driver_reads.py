"""Hot reads and one-statement writes run by asyncpg itself (``stockroom.common.db.DriverRead``,
``DriverWrite``): the same rows as SQLAlchemy's, SQLAlchemy's path when a value needs it or a
span records, and failures reported and recovered from exactly as through SQLAlchemy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import (
    DriverRead,
    DriverWrite,
    UtcDateTime,
    create_engine,
    one_of,
    run_autocommit,
    run_transaction,
)
from stockroom.common.db._outage import sqlstate

from .conftest import SpanRecorder
from .test_database_reconnect import terminate

pytestmark = pytest.mark.postgres

metadata = MetaData()
things = Table(
    "driver_read_things",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("seen", UtcDateTime(), nullable=False),
    Column("extra", JSONB, nullable=True),
)
SEEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

BY_NAME = DriverRead(
    select(literal("thing").label("kind"), things.c.name, things.c.count, things.c.seen)
    .where(one_of(things.c.name, "names", "postgresql"))
    .order_by(things.c.name)
)


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(
            things.insert(),
            [
                {"name": "a", "count": 1, "seen": SEEN, "extra": {"k": 1}},
                {"name": "b", "count": 2, "seen": SEEN, "extra": None},
            ],
        )
    yield engine
    await engine.dispose()


@pytest.fixture
def executions(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements SQLAlchemy executes (a read run by the driver adds none)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", record)


def autocommitting(engine: AsyncEngine) -> AsyncEngine:
    """Connections whose statements commit on their own, as ``run_autocommit``'s: the only
    ones on which the driver runs a statement itself."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def both_ways(
    engine: AsyncEngine, read: DriverRead, parameters: dict[str, Any]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    async with autocommitting(engine).connect() as connection:
        by_driver = [tuple(row) for row in await read.rows(connection, parameters)]
        by_sqlalchemy = [tuple(row) for row in await connection.execute(read.statement, parameters)]
    return by_driver, by_sqlalchemy


async def test_a_driver_read_returns_the_rows_sqlalchemy_returns_without_it(
    engine: AsyncEngine, executions: list[str]
) -> None:
    by_driver, by_sqlalchemy = await both_ways(engine, BY_NAME, {"names": ["b", "a", "z"]})

    assert by_driver == by_sqlalchemy == [("thing", "a", 1, SEEN), ("thing", "b", 2, SEEN)]
    assert by_driver[0][3].tzinfo is not None  # UtcDateTime's processing, applied
    assert BY_NAME.driver_ready(engine.dialect)
    assert len(executions) == 1  # only the comparison went through SQLAlchemy


async def test_rows_slice_and_index_like_sqlalchemy_rows(engine: AsyncEngine) -> None:
    async with autocommitting(engine).connect() as connection:
        (row,) = await BY_NAME.rows(connection, {"names": ["a"]})

    assert row[0] == "thing"
    assert tuple(row[1:3]) == ("a", 1)


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(
            select(things.c.name).where(things.c.extra == bindparam("extra", type_=JSONB)),
            id="json parameter",
        ),
        pytest.param(
            select(things.c.name).where(things.c.name.in_(bindparam("names", expanding=True))),
            id="expanding parameter",
        ),
    ],
)
async def test_a_statement_whose_values_need_sqlalchemy_runs_through_it(
    engine: AsyncEngine, executions: list[str], statement: Any
) -> None:
    read = DriverRead(statement)
    parameters = {"extra": {"k": 1}, "names": ["a"]}
    async with engine.connect() as connection:
        rows = [tuple(row) for row in await read.rows(connection, parameters)]

    assert not read.driver_ready(engine.dialect)
    assert len(executions) == 1
    assert rows == [("a",)]


async def test_a_json_column_comes_back_decoded_either_way(engine: AsyncEngine) -> None:
    read = DriverRead(select(things.c.name, things.c.extra).order_by(things.c.name))

    by_driver, by_sqlalchemy = await both_ways(engine, read, {})

    assert by_driver == by_sqlalchemy == [("a", {"k": 1}), ("b", None)]


async def test_a_missing_parameter_is_refused_as_sqlalchemy_refuses_it(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        with pytest.raises(StatementError, match="names"):
            await BY_NAME.rows(connection, {})


async def test_in_a_recorded_span_the_read_goes_through_sqlalchemy(
    engine: AsyncEngine, executions: list[str], span_recorder: SpanRecorder
) -> None:
    with span_recorder.tracer.start_as_current_span("a sampled call"):
        async with engine.connect() as connection:
            rows = await BY_NAME.rows(connection, {"names": ["a"]})

    assert [tuple(row) for row in rows] == [("thing", "a", 1, SEEN)]
    assert len(executions) == 1  # so the engine's database span is made for it


async def test_a_failing_read_fails_as_sqlalchemy_reports_it(engine: AsyncEngine) -> None:
    dividing = DriverRead(select(literal_column("1") / bindparam("zero", type_=Integer)))

    async with autocommitting(engine).connect() as connection:
        with pytest.raises(DBAPIError) as raised:
            await dividing.rows(connection, {"zero": 0})

    assert sqlstate(raised.value) == "22012"  # division_by_zero


async def test_a_read_that_outlasts_the_command_timeout_is_not_run_twice(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url, connect_args={"command_timeout": 0.2})
    calls: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: calls.append(""))
    sleeping = DriverRead(select(func.pg_sleep(bindparam("seconds", type_=Integer))))
    try:
        async with autocommitting(engine).connect() as connection:
            with pytest.raises(TimeoutError):
                await sleeping.rows(connection, {"seconds": 30})
    finally:
        await engine.dispose()

    assert sleeping.driver_ready(engine.dialect)
    assert calls == []  # asyncpg's timeout, raised as is: not run again through SQLAlchemy


async def test_a_read_whose_connection_died_runs_once_more_on_a_fresh_one(
    engine: AsyncEngine, postgres_url: str, executions: list[str]
) -> None:
    pids: list[int] = []

    async def work(connection: AsyncConnection) -> list[Any]:
        pids.append(int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()))
        if len(pids) == 1:
            await terminate(postgres_url, pids[0])
        return list(await BY_NAME.rows(connection, {"names": ["a"]}))

    rows = await run_autocommit(engine, work)

    assert [tuple(row) for row in rows] == [("thing", "a", 1, SEEN)]
    assert len(pids) == 2
    assert pids[0] != pids[1]


LOCK_BY_NAME = DriverRead(
    select(things.c.name).where(things.c.name == bindparam("name")).with_for_update()
)


async def locked_elsewhere(postgres_url: str, name: str) -> bool:
    """Whether a session of another engine (not the one whose statements are counted) finds
    the row ``name`` locked; it does not wait for it."""
    nowait = select(things.c.name).where(things.c.name == name).with_for_update(nowait=True)
    other = create_engine(postgres_url)
    try:
        async with other.connect() as connection:
            await connection.execute(nowait)
    except DBAPIError as error:
        if sqlstate(error) == "55P03":  # lock_not_available
            return True
        raise
    finally:
        await other.dispose()
    return False


async def test_a_read_that_begins_a_transaction_goes_through_sqlalchemy_and_holds_its_locks(
    engine: AsyncEngine, postgres_url: str, executions: list[str]
) -> None:
    async def work(connection: AsyncConnection) -> tuple[list[Any], bool]:
        rows = await LOCK_BY_NAME.rows(connection, {"name": "a"})
        return [tuple(row) for row in rows], await locked_elsewhere(postgres_url, "a")

    rows, locked = await run_transaction(engine, work)

    assert rows == [("a",)]
    assert locked  # run by the driver, the first statement would have run before BEGIN
    assert len(executions) == 1
    assert not await locked_elsewhere(postgres_url, "a")  # released at COMMIT


async def test_a_read_inside_a_transaction_goes_through_sqlalchemy(
    engine: AsyncEngine, executions: list[str]
) -> None:
    async def work(connection: AsyncConnection) -> list[Any]:
        await connection.execute(things.update().where(things.c.name == "b").values(count=3))
        return [tuple(row) for row in await BY_NAME.rows(connection, {"names": ["b"]})]

    rows = await run_transaction(engine, work)

    assert rows == [("thing", "b", 3, SEEN)]  # the transaction's own write, seen
    assert len(executions) == 2


# A one-statement write that may run twice: a repeat of a committed one fails on the key.
ADD_THING = DriverWrite(
    text(
        "INSERT INTO driver_read_things (name, count, seen) "
        "SELECT n, c, :seen FROM unnest(CAST(:names AS text[]), CAST(:counts AS bigint[])) "
        "AS t (n, c) RETURNING name, count"
    )
)


async def names_and_counts(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        query = select(things.c.name, things.c.count).order_by(things.c.name)
        return [tuple(row) for row in await connection.execute(query)]


async def test_a_driver_write_runs_on_the_driver_and_returns_what_the_statement_returns(
    engine: AsyncEngine, executions: list[str]
) -> None:
    async def work(connection: AsyncConnection) -> list[tuple[Any, ...]]:
        parameters = {"names": ["c", "d"], "counts": [3, 4], "seen": SEEN}
        return [tuple(row) for row in await ADD_THING.rows(connection, parameters)]

    written = await run_autocommit(engine, work)

    assert written == [("c", 3), ("d", 4)]
    assert ADD_THING.driver_ready(engine.dialect)
    assert executions == []  # the driver ran it, and it committed on its own
    assert await names_and_counts(engine) == [("a", 1), ("b", 2), ("c", 3), ("d", 4)]


async def test_a_failing_driver_write_writes_nothing_and_fails_as_sqlalchemy_reports_it(
    engine: AsyncEngine, executions: list[str]
) -> None:
    async def work(connection: AsyncConnection) -> None:
        await ADD_THING.rows(connection, {"names": ["e", "a"], "counts": [5, 6], "seen": SEEN})

    with pytest.raises(IntegrityError) as raised:
        await run_autocommit(engine, work)

    assert sqlstate(raised.value) == "23505"  # unique_violation, as the apply's caller sees it
    assert len(executions) == 1  # asyncpg's failure, run once more through SQLAlchemy
    assert await names_and_counts(engine) == [("a", 1), ("b", 2)]  # "e" was not written


async def test_in_a_recorded_span_a_driver_write_goes_through_sqlalchemy(
    engine: AsyncEngine, executions: list[str], span_recorder: SpanRecorder
) -> None:
    async def work(connection: AsyncConnection) -> list[tuple[Any, ...]]:
        parameters = {"names": ["f"], "counts": [7], "seen": SEEN}
        return [tuple(row) for row in await ADD_THING.rows(connection, parameters)]

    with span_recorder.tracer.start_as_current_span("a sampled call"):
        written = await run_autocommit(engine, work)

    assert written == [("f", 7)]
    assert len(executions) == 1


async def test_a_driver_write_whose_connection_died_runs_once_more_on_a_fresh_one(
    engine: AsyncEngine, postgres_url: str
) -> None:
    pids: list[int] = []

    async def work(connection: AsyncConnection) -> list[tuple[Any, ...]]:
        pids.append(int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()))
        if len(pids) == 1:
            await terminate(postgres_url, pids[0])
        parameters = {"names": ["g"], "counts": [8], "seen": SEEN}
        return [tuple(row) for row in await ADD_THING.rows(connection, parameters)]

    written = await run_autocommit(engine, work, repeatable=True)

    assert written == [("g", 8)]
    assert len(pids) == 2
    assert await names_and_counts(engine) == [("a", 1), ("b", 2), ("g", 8)]
