"""Inventory's Transactions adds no retry layer over common's runner: attempts do not multiply."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import (
    CONFLICT_ATTEMPTS,
    RetryTransaction,
    TransactionConflict,
    create_engine,
)
from stockroom.inventory.domain.model import DOMAIN
from stockroom.inventory.store.transactions import ConcurrentChange, Transactions


class _Deadlock(Exception):
    sqlstate = "40P01"


@pytest.fixture
async def transactions() -> AsyncIterator[Transactions]:
    engine: AsyncEngine = create_engine("sqlite+aiosqlite:///:memory:")
    yield Transactions(engine)
    await engine.dispose()


@pytest.mark.parametrize("method", ["write", "read", "write_statement"])
async def test_a_deadlock_is_tried_conflict_attempts_times_then_aborted_in_inventory_domain(
    transactions: Transactions, method: str
) -> None:
    attempts = 0

    async def work(_connection: AsyncConnection) -> None:
        nonlocal attempts
        attempts += 1
        raise DBAPIError("UPDATE", None, _Deadlock("deadlock detected"))

    with pytest.raises(TransactionConflict) as raised:
        await getattr(transactions, method)(work)
    assert attempts == CONFLICT_ATTEMPTS
    assert (raised.value.reason, raised.value.domain) == ("TRANSACTION_CONFLICT", DOMAIN)


async def test_concurrent_change_is_commons_retry_signal(transactions: Transactions) -> None:
    assert issubclass(ConcurrentChange, RetryTransaction)
    attempts = 0

    async def work(_connection: AsyncConnection) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConcurrentChange("a reservation appeared since the batch read")
        return attempts

    assert await transactions.write(work) == 2
