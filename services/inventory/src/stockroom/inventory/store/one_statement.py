"""The hot writes as single statements on PostgreSQL: one round trip, their own transaction.

ReserveStock, ConfirmReservation, ReleaseReservation and ReceiveStock are on
every order's path. As transactions they cost a dozen round trips each
(BEGIN, the request claim, locks, updates, inserts, the ledger head, the
recorded response, COMMIT); written as one statement with data-modifying
CTEs (``sql/*.sql``) they cost one, and the locks are held for a fraction of
the time. The same trade was measured before the first line (docs/design.md,
"Round trips and commits"): 4.2k reservations/s from one process as one
statement against 1.9k/s as five round trips.

Each statement either makes the whole successful change (levels, ledger
entries, reservation rows, the request record with the response) or writes
nothing and answers None; a unique or foreign-key violation (a repeated
request id, an unknown SKU or location) aborts it just the same. The stores
then run their transaction, which stays the reference implementation and
gives the precise answer: an error, the replay of a repeated request, an
already-done transition. The response recorded for request-id replays is
the domain result as msgspec JSON, as the transaction records it; the
statement builds the parts only it knows (allocations, levels, sequence
numbers) and the caller gets back exactly what was recorded.
"""

from __future__ import annotations

import logging
from datetime import datetime
from importlib import resources
from typing import Any, TypeVar

import msgspec
from sqlalchemy import TextClause, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import RequestKey
from stockroom.inventory.domain.model import (
    LevelChange,
    Movement,
    MovementKind,
    Receipt,
    Reservation,
    ReservationRequest,
    ReservationState,
    StockLevel,
)
from stockroom.inventory.store.transactions import Transactions

R = TypeVar("R")

logger = logging.getLogger(__name__)

# unique_violation, foreign_key_violation (PostgreSQL error codes, appendix A).
EXPECTED_VIOLATIONS = frozenset({"23505", "23503"})


def _statement(name: str) -> TextClause:
    return text((resources.files(__package__) / "sql" / name).read_text())


RESERVE = _statement("reserve.sql")
GIVE_BACK = _statement("give_back.sql")
RECEIVE = _statement("receive.sql")


async def reserve(
    transactions: Transactions,
    request: ReservationRequest,
    reservation_id: str,
    key: RequestKey,
    now: datetime,
) -> Reservation | None:
    """Hold every line of ``request``, or nothing (None)."""
    expire_time = now + request.ttl
    header = Reservation(
        reservation_id, ReservationState.ACTIVE, (), request.reference, now, expire_time, now
    )
    return await _run(
        transactions,
        RESERVE,
        {
            "skus": [line.sku for line in request.lines],
            "quantities": [line.quantity for line in request.lines],
            "location_ids": list(request.location_ids),
            "reservation_id": reservation_id,
            "reference": request.reference,
            "expire_time": expire_time,
            "header": msgspec.json.encode(header).decode(),
            **_record(key, now),
        },
        Reservation,
    )


async def give_back(
    transactions: Transactions,
    reservation_id: str,
    state: ReservationState,
    kind: MovementKind,
    on_hand_sign: int,
    note: str,
    key: RequestKey,
    now: datetime,
) -> Reservation | None:
    """Move an active reservation to ``state`` (CONFIRMED or RELEASED), or nothing (None).

    A confirmation also needs the reservation unexpired; its ``note`` is the
    shipment's reference, a release's is the reason.
    """
    confirming = state is ReservationState.CONFIRMED
    return await _run(
        transactions,
        GIVE_BACK,
        {
            "reservation_id": reservation_id,
            "must_be_unexpired": confirming,
            "state": state.value,
            "kind": kind.value,
            "on_hand_sign": on_hand_sign,
            "reason": "" if confirming else note,
            "reference": note if confirming else "",
            "header": msgspec.json.encode({"state": state, "update_time": now}).decode(),
            **_record(key, now),
        },
        Reservation,
    )


async def receive(
    transactions: Transactions, receipt: Receipt, key: RequestKey, now: datetime
) -> LevelChange | None:
    """Add ``receipt`` to its level, creating the level on first use, or nothing (None)."""
    unknown = StockLevel(receipt.sku, receipt.location_id, 0, 0, 0, 0)  # the statement fills it
    skeleton = LevelChange(
        unknown,
        Movement(
            sequence=0,
            kind=MovementKind.RECEIPT,
            on_hand_delta=receipt.quantity,
            reserved_delta=0,
            level=unknown,
            reason=receipt.reason,
            reference=receipt.reference,
            reservation_id="",
            request_id=key.request_id,
            create_time=now,
        ),
    )
    return await _run(
        transactions,
        RECEIVE,
        {
            "sku": receipt.sku,
            "location_id": receipt.location_id,
            "quantity": receipt.quantity,
            "reason": receipt.reason,
            "reference": receipt.reference,
            "header": msgspec.json.encode(skeleton).decode(),
            **_record(key, now),
        },
        LevelChange,
    )


def _record(key: RequestKey, now: datetime) -> dict[str, Any]:
    return {
        "request_id": key.request_id,
        "method": key.method,
        "fingerprint": key.fingerprint,
        "now": now,
    }


async def _run(
    transactions: Transactions,
    statement: TextClause,
    params: dict[str, Any],
    result_type: type[R],
) -> R | None:
    async def work(connection: AsyncConnection) -> bytes | None:
        recorded: bytes | None = (await connection.execute(statement, params)).scalar_one()
        return recorded

    try:
        recorded = await transactions.write_statement(work)
    except IntegrityError as error:
        # The whole statement was rolled back; the transaction answers. A
        # repeated request id or an unknown SKU or location is expected here;
        # anything else (a CHECK constraint) means the statement planned a
        # change the schema forbids: a bug to look at, not to hide.
        if getattr(error.orig, "sqlstate", None) not in EXPECTED_VIOLATIONS:
            logger.error("a constraint stopped a one-statement write", exc_info=True)
        return None
    return None if recorded is None else msgspec.json.decode(recorded, type=result_type)
