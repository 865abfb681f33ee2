"""A cancelled database connection attempt logs no traceback (``db._cancelled_connects``)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from stockroom.common.db import create_engine
from stockroom.common.db._cancelled_connects import LEFT_BY_A_CANCELLED_CONNECT


def unread(context: dict[str, Any]) -> bool:
    """A report of an unread future's error (other reports, such as grpc.aio's for an
    earlier test's loop, are not this test's)."""
    return str(context.get("message", "")).startswith("Future exception was never retrieved")


def drop_unread(error: BaseException) -> None:
    """A future that fails with ``error`` and is never awaited, as asyncpg leaves one."""
    future = asyncio.get_running_loop().create_future()
    future.set_exception(error)
    del future
    gc.collect()


async def test_an_unread_error_of_a_cancelled_connect_is_quiet_and_any_other_reaches_the_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[Any] = []
    before = loop.get_exception_handler()
    loop.set_exception_handler(
        lambda _loop, context: reported.append(context["exception"]) if unread(context) else None
    )
    try:
        engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")  # connects lazily
        create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/other")  # installs only once
        drop_unread(ConnectionError(LEFT_BY_A_CANCELLED_CONNECT))
        other = ConnectionError("connection refused")
        drop_unread(other)
        drop_unread(ValueError(LEFT_BY_A_CANCELLED_CONNECT))
        await engine.dispose()
    finally:
        loop.set_exception_handler(before)
    assert [repr(e) for e in reported] == [
        repr(other),
        repr(ValueError(LEFT_BY_A_CANCELLED_CONNECT)),
    ]
    assert not [r for r in caplog.records if r.name == "asyncio" and r.levelname == "ERROR"]


@pytest.mark.postgres
async def test_connects_cancelled_at_every_step_leave_nothing_for_the_handler(
    postgres_url: str,
) -> None:
    """asyncpg's real connect, cancelled after 0 to 11 turns of the loop: whatever step the
    cancellation lands on (before, during and after the TLS question), no unread error
    reaches the loop's handler."""
    loop = asyncio.get_running_loop()
    reported: list[Any] = []
    before = loop.get_exception_handler()
    loop.set_exception_handler(
        lambda _loop, context: reported.append(context) if unread(context) else None
    )
    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    try:
        engine = create_engine(postgres_url)
        for attempt in range(120):
            connecting = asyncio.ensure_future(asyncpg.connect(dsn))
            for _ in range(attempt % 12):
                await asyncio.sleep(0)
            connecting.cancel()
            try:
                connection = await connecting
            except asyncio.CancelledError:
                continue
            await connection.close()
        gc.collect()
        await asyncio.sleep(0)
        await engine.dispose()
    finally:
        loop.set_exception_handler(before)
    assert reported == []
