"""Statements on request records (AIP-155): read a batch's, write its successes' responses.

A record is written in the transaction of the write it records, last, in
request-id order. Two batches (on two replicas) that both apply the same
request id collide on its primary key: the later one fails with a unique
violation, rolls back whole and runs again, and then reads the record and
answers the replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, one_of
from stockroom.inventory.domain.decide import Record
from stockroom.inventory.store.tables import request_records


def _read(dialect: str) -> Select[Any]:
    r = request_records.c
    return select(r.request_id, r.method, r.fingerprint, r.response).where(
        one_of(r.request_id, "ids", dialect)
    )


_READ = {dialect: _read(dialect) for dialect in DIALECTS}


async def read(connection: AsyncConnection, request_ids: Iterable[str]) -> dict[str, Record]:
    ids = sorted(set(request_ids))
    if not ids:
        return {}
    rows = await connection.execute(_READ[connection.dialect.name], {"ids": ids})
    return {
        row.request_id: Record(row.method, row.fingerprint, bytes(row.response))
        for row in rows
        if row.response is not None
    }


async def write(
    connection: AsyncConnection, records: Sequence[tuple[str, str, str, bytes]], now: datetime
) -> None:
    """Insert ``(request_id, method, fingerprint, response)`` rows, in request-id order."""
    if not records:
        return
    await connection.execute(
        insert(request_records),
        [
            {
                "request_id": request_id,
                "method": method,
                "fingerprint": fingerprint,
                "response": response,
                "create_time": now,
            }
            for request_id, method, fingerprint, response in sorted(records)
        ],
    )
