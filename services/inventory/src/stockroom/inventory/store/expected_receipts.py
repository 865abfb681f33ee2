"""Statements on expected receipts: load and lock a batch's, write what it decided, list
them, and the open ones of some SKUs (for availability answers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, one_of
from stockroom.inventory.domain.model import Page
from stockroom.inventory.domain.supply import ExpectedReceipt, ExpectedReceiptState
from stockroom.inventory.store.tables import expected_receipts

_e = expected_receipts.c


def _by_id(dialect: str, *, lock: bool) -> Select[Any]:
    query = select(expected_receipts).where(one_of(_e.expected_receipt_id, "ids", dialect))
    query = query.order_by(_e.expected_receipt_id)
    return query.with_for_update() if lock else query


_READ = {dialect: _by_id(dialect, lock=False) for dialect in DIALECTS}
_LOCK = {dialect: _by_id(dialect, lock=True) for dialect in DIALECTS}
_OPEN = {
    dialect: select(expected_receipts).where(
        one_of(_e.sku, "skus", dialect), _e.state == ExpectedReceiptState.OPEN.value
    )
    for dialect in DIALECTS
}

_WRITE = (
    update(expected_receipts)
    .where(_e.expected_receipt_id == bindparam("key_id"))
    .values(
        received=bindparam("new_received"),
        state=bindparam("new_state"),
        update_time=bindparam("new_time"),
    )
)


def receipt_from_row(row: Any) -> ExpectedReceipt:
    return ExpectedReceipt(
        expected_receipt_id=row.expected_receipt_id,
        sku=row.sku,
        location_id=row.location_id,
        quantity=row.quantity,
        received=row.received,
        state=ExpectedReceiptState(row.state),
        expected_time=row.expected_time,
        reference=row.reference,
        create_time=row.create_time,
        update_time=row.update_time,
    )


async def load(
    connection: AsyncConnection, ids: Iterable[str], *, lock: bool = False
) -> dict[str, ExpectedReceipt]:
    """The expected receipts with these ids that exist; with ``lock`` locked in id order
    (after levels, policies and reservations: the global lock order)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    statement = (_LOCK if lock else _READ)[connection.dialect.name]
    rows = await connection.execute(statement, {"ids": wanted})
    return {r.expected_receipt_id: receipt_from_row(r) for r in rows}


async def open_of_skus(connection: AsyncConnection, skus: Iterable[str]) -> list[ExpectedReceipt]:
    wanted = sorted(set(skus))
    if not wanted:
        return []
    rows = await connection.execute(_OPEN[connection.dialect.name], {"skus": wanted})
    return [receipt_from_row(r) for r in rows]


async def write(
    connection: AsyncConnection,
    receipts: Mapping[str, ExpectedReceipt],
    created: Set[str],
) -> None:
    """Insert new ones (a concurrent insert of the same id fails on its key and the batch
    runs again) and update the locked ones, in id order."""
    new = [_row(r) for key, r in sorted(receipts.items()) if key in created]
    if new:
        await connection.execute(insert(expected_receipts), new)
    changed = [
        {
            "key_id": r.expected_receipt_id,
            "new_received": r.received,
            "new_state": r.state.value,
            "new_time": r.update_time,
        }
        for key, r in sorted(receipts.items())
        if key not in created
    ]
    if changed:
        await connection.execute(_WRITE, changed)


def _row(r: ExpectedReceipt) -> dict[str, Any]:
    return {
        "expected_receipt_id": r.expected_receipt_id,
        "sku": r.sku,
        "location_id": r.location_id,
        "quantity": r.quantity,
        "received": r.received,
        "state": r.state.value,
        "expected_time": r.expected_time,
        "reference": r.reference,
        "create_time": r.create_time,
        "update_time": r.update_time,
    }


async def page(
    connection: AsyncConnection,
    *,
    sku: str,
    location_id: str,
    include_closed: bool,
    after: tuple[int, str] | None,
    size: int,
) -> Page[ExpectedReceipt]:
    """Expected receipts soonest expected first (ties by id), filtered, after a cursor
    (the last one's expected time in microseconds since the epoch, and its id)."""
    query = (
        select(expected_receipts).order_by(_e.expected_time, _e.expected_receipt_id).limit(size + 1)
    )
    if sku:
        query = query.where(_e.sku == sku)
    if location_id:
        query = query.where(_e.location_id == location_id)
    if not include_closed:
        query = query.where(_e.state == ExpectedReceiptState.OPEN.value)
    if after is not None:
        when, last_id = _time(after[0]), after[1]
        query = query.where(
            or_(
                _e.expected_time > when,
                (_e.expected_time == when) & (_e.expected_receipt_id > last_id),
            )
        )
    rows = list(await connection.execute(query))
    found = tuple(receipt_from_row(r) for r in rows[:size])
    if len(rows) <= size:  # the last page (perhaps an empty one)
        return Page(found, None)
    return Page(found, (_micros(found[-1].expected_time), found[-1].expected_receipt_id))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


_FIRST = datetime(1, 1, 2, tzinfo=UTC)
_LAST = datetime(9999, 12, 30, tzinfo=UTC)


def _time(micros: int) -> datetime:
    """The cursor's time; a forged one beyond what a datetime holds is clamped."""
    return _EPOCH + timedelta(microseconds=min(max(micros, _micros(_FIRST)), _micros(_LAST)))
