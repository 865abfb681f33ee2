"""Request ids (AIP-155): a retried mutation gets its first answer back, never a second effect.

A mutating request carries a caller-chosen ``request_id`` (a UUID). The
service keeps one record per request id in its own database, written in the
same transaction as the mutation, so the guarantee holds across replicas and
restarts:

- the first request with an id *claims* it (an insert that only one
  transaction can win; a concurrent duplicate waits on the winner's row and
  then sees its answer);
- a repeat with the same method and payload gets the recorded response back;
- a repeat with a different method or payload is rejected (``REQUEST_ID_REUSED``),
  because answering it with another request's result would be a lie.

Only successful outcomes are recorded: a request that failed rolled back its
claim with everything else, so retrying it evaluates it afresh.

Two ways to keep the record, one key (``RequestKey``: the id, the method and
a hash of the proto request without its id):

- a mutation that changes existing rows records its response in the
  ``request_records`` table (``claim`` then ``complete``, in its transaction)::

      async with connection.begin():
          replay = await claim(connection, request_records, key, now)
          if replay is not None:
              return decode(replay)
          result = ...  # the mutation
          await complete(connection, request_records, key, encode(result))

- a create keeps the key on the row it creates (``request_id`` UNIQUE and
  ``request_hash`` columns): ``insert_once`` inserts it or returns the row an
  earlier try created, so the database decides which of two concurrent
  duplicates wins and no second table is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Row,
    String,
    Table,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.contract import check_request_id
from stockroom.common.db._engine import upsert_insert
from stockroom.common.errors._errors import FieldErrors, FieldViolation, InvalidArgument

REQUEST_ID_FIELD = "request_id"


@dataclass(frozen=True)
class RequestKey:
    """What identifies one logical request: its id, the method and a hash of its payload."""

    request_id: str
    method: str
    fingerprint: str


def request_key(method: str, request: Message, field: str = REQUEST_ID_FIELD) -> RequestKey:
    """The key of a proto request: the fingerprint hashes every field but the request id.

    Deterministic serialization makes equal messages hash equally within one
    protobuf version, which is all a retry window needs.
    """
    payload = type(request)()
    payload.CopyFrom(request)
    payload.ClearField(field)
    digest = hashlib.sha256(payload.SerializeToString(deterministic=True)).hexdigest()
    return RequestKey(getattr(request, field), method, digest)


def validate_request_id(problems: FieldErrors, value: str, field: str = REQUEST_ID_FIELD) -> None:
    """A request id is required and is a UUID in its text form (the shared contract)."""
    check_request_id(problems, value, field)


def request_records_table(metadata: MetaData, name: str = "request_records") -> Table:
    """The table of request records, defined in the service's own metadata."""
    return Table(
        name,
        metadata,
        Column("request_id", String(36), primary_key=True),
        Column("method", String(128), nullable=False),
        Column("fingerprint", String(64), nullable=False),
        # NULL only while the claiming transaction runs; committed records have it.
        Column("response", LargeBinary, nullable=True),
        Column("create_time", DateTime(timezone=True), nullable=False),
    )


async def claim(
    connection: AsyncConnection, records: Table, key: RequestKey, now: datetime
) -> bytes | None:
    """Claim ``key`` for the running transaction, or return the response already recorded.

    Raises InvalidArgument (REQUEST_ID_REUSED) when the id was used for
    another method or payload.
    """
    claimed = await connection.execute(
        upsert_insert(connection, records)
        .values(
            request_id=key.request_id,
            method=key.method,
            fingerprint=key.fingerprint,
            response=None,
            create_time=now,
        )
        .on_conflict_do_nothing(index_elements=[records.c.request_id])
        .returning(records.c.request_id)
    )
    if claimed.first() is not None:
        return None
    row = (
        await connection.execute(
            select(records.c.method, records.c.fingerprint, records.c.response).where(
                records.c.request_id == key.request_id
            )
        )
    ).one()
    if row.method != key.method or row.fingerprint != key.fingerprint:
        raise request_id_reused(key)
    return bytes(row.response)


async def complete(
    connection: AsyncConnection, records: Table, key: RequestKey, response: bytes
) -> None:
    """Record the response of a claimed request (in the transaction that claimed it)."""
    await connection.execute(
        update(records).where(records.c.request_id == key.request_id).values(response=response)
    )


async def insert_once(
    connection: AsyncConnection,
    table: Table,
    values: Mapping[str, object],
    key: RequestKey | None,
) -> tuple[Row[Any], bool]:
    """Insert ``values`` into ``table`` unless ``key`` created a row already.

    Returns the row and whether this call created it. ``table`` has a UNIQUE
    ``request_id`` and a ``request_hash`` column; without a key the row is
    simply inserted.
    """
    if key is None:
        row = (await connection.execute(table.insert().values(**values).returning(*table.c))).one()
        return row, True
    insert = (
        upsert_insert(connection, table)
        .values(**values, request_id=key.request_id, request_hash=key.fingerprint)
        .on_conflict_do_nothing(index_elements=[table.c.request_id])
        .returning(*table.c)
    )
    created = (await connection.execute(insert)).one_or_none()
    if created is not None:
        return created, True
    existing = await find_created(connection, table, key)
    if existing is None:  # rows keyed by request id are never deleted
        raise RuntimeError(f"request id {key.request_id} conflicted but has no row")
    return existing, False


async def find_created(
    connection: AsyncConnection, table: Table, key: RequestKey
) -> Row[Any] | None:
    """The row of ``table`` that ``key`` created, if any; REQUEST_ID_REUSED if another
    request used the id."""
    query = select(table).where(table.c.request_id == key.request_id)
    row = (await connection.execute(query)).one_or_none()
    if row is not None and row.request_hash != key.fingerprint:
        raise request_id_reused(key)
    return row


def request_id_reused(key: RequestKey) -> InvalidArgument:
    description = "was already used for a different request; use a new UUID for a new request"
    return InvalidArgument(
        f"request_id {key.request_id} {description}",
        reason="REQUEST_ID_REUSED",
        field_violations=[FieldViolation(REQUEST_ID_FIELD, description, "REQUEST_ID_REUSED")],
    )
