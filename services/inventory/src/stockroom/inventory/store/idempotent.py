"""A writing transaction that answers a repeated request from its record (AIP-155).

The claim, the mutation and the recorded response commit together, so a
request is applied once however often it is retried, on whichever replica.
Responses are recorded as JSON of the domain result (msgspec), so a replay
gives back exactly what the first call returned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import RequestKey, claim, complete
from stockroom.inventory.store.tables import request_records
from stockroom.inventory.store.transactions import Transactions

R = TypeVar("R")

Work = Callable[[AsyncConnection, datetime], Awaitable[R]]


async def idempotent_write(
    transactions: Transactions,
    key: RequestKey,
    result_type: type[R],
    now: Callable[[], datetime],
    work: Work[R],
) -> R:
    """Run ``work`` once per request key; a repeat gets the first result back."""

    async def unit(connection: AsyncConnection) -> R:
        started = now()
        recorded = await claim(connection, request_records, key, started)
        if recorded is not None:
            return msgspec.json.decode(recorded, type=result_type)
        result = await work(connection, started)
        await complete(connection, request_records, key, msgspec.json.encode(result))
        return result

    return await transactions.write(unit)
