"""Stock levels and the ledger: movements in, levels and history out. One transaction per method."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, RequestKey, one_of
from stockroom.inventory.domain import rules
from stockroom.inventory.domain.model import (
    Adjustment,
    LevelChange,
    Line,
    LineAvailability,
    MovementKind,
    Receipt,
    SafetyStockChange,
    StockKey,
    StockLevel,
    Transfer,
    TransferResult,
)
from stockroom.inventory.store import catalog, ledger, levels, one_statement
from stockroom.inventory.store.clock import Clock, utc_now
from stockroom.inventory.store.idempotent import Work, idempotent_write
from stockroom.inventory.store.ledger import Entry
from stockroom.inventory.store.levels import Delta
from stockroom.inventory.store.tables import stock_levels
from stockroom.inventory.store.transactions import Transactions

R = TypeVar("R")


def _available_by_sku(dialect: str) -> Select[Any]:
    level = stock_levels.c
    free = level.on_hand - level.reserved - level.safety_stock
    return (
        select(level.sku, func.sum(free))
        .where(one_of(level.sku, "skus", dialect), free > 0)
        .group_by(level.sku)
    )


# Built once per dialect: CheckAvailability is the hottest read, and building a
# statement costs more than running it.
AVAILABLE_BY_SKU = {dialect: _available_by_sku(dialect) for dialect in DIALECTS}


class StockStore:
    """Receipts, counts, transfers and safety stock, each written with its ledger entries."""

    def __init__(
        self,
        transactions: Transactions,
        clock: Clock = utc_now,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._on_commit = on_commit

    async def receive(self, receipt: Receipt, key: RequestKey) -> LevelChange:
        if self._transactions.one_statement_writes:
            received = await one_statement.receive(self._transactions, receipt, key, self._clock())
            if received is not None:
                self._on_commit()
                return received

        async def work(connection: AsyncConnection, now: datetime) -> LevelChange:
            level = (
                await _lock_creating(connection, [StockKey(receipt.sku, receipt.location_id)])
            )[0]
            after = (await levels.apply(connection, [Delta(level.key, receipt.quantity, 0)]))[
                level.key
            ]
            return await _record_change(
                connection,
                now,
                Entry(
                    MovementKind.RECEIPT,
                    after,
                    on_hand_delta=receipt.quantity,
                    reason=receipt.reason,
                    reference=receipt.reference,
                    request_id=key.request_id,
                ),
            )

        return await self._write(key, LevelChange, work)

    async def adjust(self, adjustment: Adjustment, key: RequestKey) -> LevelChange:
        async def work(connection: AsyncConnection, now: datetime) -> LevelChange:
            stock_key = StockKey(adjustment.sku, adjustment.location_id)
            level = (await _lock_creating(connection, [stock_key]))[0]
            delta = rules.adjustment_delta(level, adjustment)
            after = (await levels.apply(connection, [Delta(stock_key, delta, 0)]))[stock_key]
            return await _record_change(
                connection,
                now,
                Entry(
                    MovementKind.ADJUSTMENT,
                    after,
                    on_hand_delta=delta,
                    reason=adjustment.reason,
                    reference=adjustment.reference,
                    request_id=key.request_id,
                ),
            )

        return await self._write(key, LevelChange, work)

    async def transfer(self, transfer: Transfer, key: RequestKey) -> TransferResult:
        async def work(connection: AsyncConnection, now: datetime) -> TransferResult:
            source = StockKey(transfer.sku, transfer.from_location_id)
            target = StockKey(transfer.sku, transfer.to_location_id)
            locked = {lv.key: lv for lv in await _lock_creating(connection, [source, target])}
            rules.check_transfer(locked[source], transfer.quantity)
            after = await levels.apply(
                connection,
                [Delta(source, -transfer.quantity, 0), Delta(target, transfer.quantity, 0)],
            )
            entries = [
                Entry(
                    kind,
                    after[stock_key],
                    on_hand_delta=delta,
                    reason=transfer.reason,
                    reference=transfer.reference,
                    request_id=key.request_id,
                )
                for kind, stock_key, delta in (
                    (MovementKind.TRANSFER_OUT, source, -transfer.quantity),
                    (MovementKind.TRANSFER_IN, target, transfer.quantity),
                )
            ]
            written = await ledger.append(connection, entries, now)
            return TransferResult(after[source], after[target], tuple(written))

        return await self._write(key, TransferResult, work)

    async def set_safety_stock(self, change: SafetyStockChange, key: RequestKey) -> LevelChange:
        async def work(connection: AsyncConnection, now: datetime) -> LevelChange:
            stock_key = StockKey(change.sku, change.location_id)
            level = (await _lock_creating(connection, [stock_key]))[0]
            rules.check_safety_stock_etag(level, change)
            after = await levels.set_safety_stock(connection, stock_key, change.safety_stock)
            return await _record_change(
                connection,
                now,
                Entry(
                    MovementKind.SAFETY_STOCK,
                    after,
                    request_id=key.request_id,
                ),
            )

        return await self._write(key, LevelChange, work)

    async def levels_of(self, skus: Sequence[str]) -> dict[str, list[StockLevel]]:
        """Every level of each SKU, by SKU; NotFound for an unregistered SKU."""

        async def work(connection: AsyncConnection) -> dict[str, list[StockLevel]]:
            await catalog.require_known(connection, skus)
            by_sku: dict[str, list[StockLevel]] = {sku: [] for sku in skus}
            for level in await levels.read_skus(connection, skus):
                by_sku[level.sku].append(level)
            return by_sku

        return await self._transactions.read(work)

    async def availability(self, lines: Sequence[Line]) -> list[LineAvailability]:
        """Available units over all locations for each line, in line order.

        Unregistered SKUs have nothing available: pricing asks about whatever
        is in a cart, and a quote must not fail because a SKU is new.
        """
        skus = sorted({line.sku for line in lines})

        async def work(connection: AsyncConnection) -> dict[str, int]:
            statement = AVAILABLE_BY_SKU[connection.dialect.name]
            rows = await connection.execute(statement, {"skus": skus})
            return {sku: int(total) for sku, total in rows}

        available = await self._transactions.read(work)
        return [
            LineAvailability(line.sku, line.quantity, available.get(line.sku, 0)) for line in lines
        ]

    async def _write(self, key: RequestKey, result_type: type[R], work: Work[R]) -> R:
        result = await idempotent_write(self._transactions, key, result_type, self._clock, work)
        self._on_commit()
        return result


async def _lock_creating(connection: AsyncConnection, keys: Sequence[StockKey]) -> list[StockLevel]:
    """Lock the levels at ``keys``, creating empty ones first where none exist yet.

    Creating comes before any lock (inserts in key order, no-ops for rows that
    exist), so the locks that follow are all taken in the global order.
    """
    await catalog.require_known(connection, [k.sku for k in keys], [k.location_id for k in keys])
    await levels.create_missing(connection, keys)
    locked = await levels.lock(connection, keys)
    return [locked[k] for k in keys]


async def _record_change(connection: AsyncConnection, now: datetime, entry: Entry) -> LevelChange:
    [movement] = await ledger.append(connection, [entry], now)
    return LevelChange(entry.level, movement)
