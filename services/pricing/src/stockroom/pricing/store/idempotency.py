"""AIP-155 request ids: a create retried with the same request id creates once.

The request id is a UNIQUE column of the created row, so the database itself
decides which of two concurrent duplicates wins (``INSERT ... ON CONFLICT DO
NOTHING``); the loser reads the winner's row back. A request id reused for a
different request is the caller's mistake and says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Row, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import upsert_insert
from stockroom.common.errors import FieldViolation, InvalidArgument
from stockroom.pricing.domain.money import DOMAIN


def request_hash(request: object) -> str:
    """A stable digest of a request's content, to tell a retry from a reuse."""
    encoded = json.dumps(_canonical(request), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def _canonical(value: object) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(_canonical(item) for item in value)
    if isinstance(value, tuple | list):
        return [_canonical(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    return value


async def insert_once(
    connection: AsyncConnection,
    table: Table,
    values: Mapping[str, object],
    request_id: str,
    request_digest: str,
) -> tuple[Row[Any], bool]:
    """Insert ``values`` unless ``request_id`` made a row already; return the row and
    whether this call created it."""
    if not request_id:
        row = (await connection.execute(table.insert().values(**values).returning(*table.c))).one()
        return row, True
    insert = (
        upsert_insert(connection, table)
        .values(**values, request_id=request_id, request_hash=request_digest)
        .on_conflict_do_nothing(index_elements=[table.c.request_id])
        .returning(*table.c)
    )
    created = (await connection.execute(insert)).one_or_none()
    if created is not None:
        return created, True
    existing = await find_by_request_id(connection, table, request_id, request_digest)
    if existing is None:  # the conflicting row vanished: rows are never deleted
        raise RuntimeError(f"request id {request_id} conflicted but has no row")
    return existing, False


async def find_by_request_id(
    connection: AsyncConnection, table: Table, request_id: str, request_digest: str
) -> Row[Any] | None:
    """The row ``request_id`` created, if any; InvalidArgument if it was another request."""
    query = select(table).where(table.c.request_id == request_id)
    row = (await connection.execute(query)).one_or_none()
    if row is not None and row.request_hash != request_digest:
        raise InvalidArgument(
            f"request_id {request_id} was already used for a different request",
            reason="REQUEST_ID_REUSED",
            domain=DOMAIN,
            field_violations=[
                FieldViolation(
                    "request_id", "was already used for a different request", "REQUEST_ID_REUSED"
                )
            ],
        )
    return row
