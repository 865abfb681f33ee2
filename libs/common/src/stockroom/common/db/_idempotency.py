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

In a store method::

    async with connection.begin():
        replay = await claim(connection, request_records, key, now)
        if replay is not None:
            return decode(replay)
        result = ...  # the mutation
        await complete(connection, request_records, key, encode(result))
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message
from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

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
    """A request id is required and is a UUID in its canonical text form (AIP-155)."""
    if not value:
        problems.add(field, "is required (a UUID chosen by the caller)", "REQUIRED")
        return
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        canonical = ""
    if canonical != value.lower():
        problems.add(
            field, "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000", "MALFORMED"
        )


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


def request_id_reused(key: RequestKey) -> InvalidArgument:
    description = "was already used for a different request; use a new UUID for a new request"
    return InvalidArgument(
        f"request_id {key.request_id} {description}",
        reason="REQUEST_ID_REUSED",
        field_violations=[FieldViolation(REQUEST_ID_FIELD, description, "REQUEST_ID_REUSED")],
    )
