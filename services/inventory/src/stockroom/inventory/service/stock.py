"""Stock use cases: receipts, counts, transfers, safety stock (batched writes), and the
level and availability reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import RequestKey
from stockroom.inventory.domain import errors, rules
from stockroom.inventory.domain.model import (
    Adjustment,
    LevelChange,
    Line,
    LineAvailability,
    Receipt,
    SafetyStockChange,
    StockLevel,
    Transfer,
    TransferResult,
)
from stockroom.inventory.service.availability import AvailabilityReads
from stockroom.inventory.service.writes import StockWrites
from stockroom.inventory.store import catalog, levels
from stockroom.inventory.store.transactions import Transactions

R = TypeVar("R")


class StockService:
    def __init__(
        self, transactions: Transactions, writes: StockWrites, availability: AvailabilityReads
    ) -> None:
        self._transactions = transactions
        self._writes = writes
        self._availability = availability

    async def receive(self, receipt: Receipt, key: RequestKey) -> LevelChange:
        return _expect(await self._writes.submit(receipt, key), LevelChange)

    async def adjust(self, adjustment: Adjustment, key: RequestKey) -> LevelChange:
        return _expect(await self._writes.submit(adjustment, key), LevelChange)

    async def transfer(self, transfer: Transfer, key: RequestKey) -> TransferResult:
        return _expect(await self._writes.submit(transfer, key), TransferResult)

    async def set_safety_stock(self, change: SafetyStockChange, key: RequestKey) -> LevelChange:
        return _expect(await self._writes.submit(change, key), LevelChange)

    async def levels_of(self, skus: Sequence[str]) -> dict[str, list[StockLevel]]:
        """Every level of each SKU, by SKU; NotFound for an unregistered SKU."""

        async def work(connection: AsyncConnection) -> dict[str, list[StockLevel]]:
            known, _ = await catalog.known(connection, skus)
            for sku in sorted(set(skus)):
                if sku not in known:
                    raise errors.item_not_found(sku)
            by_sku: dict[str, list[StockLevel]] = {sku: [] for sku in skus}
            for key, level in sorted((await levels.read_skus(connection, skus)).items()):
                by_sku[key.sku].append(level)
            return by_sku

        return await self._transactions.read(work)

    async def availability(
        self, lines: Sequence[Line], location_ids: Sequence[str] = ()
    ) -> list[LineAvailability]:
        """Available units for each line, in line order, over all locations or only
        ``location_ids`` (NotFound for an unregistered one): what ReserveStock with the same
        locations could hold, by the same rules.

        Unregistered and deactivated SKUs have nothing available: pricing asks about
        whatever is in a cart, and a quote must not fail because a SKU is new.
        """
        if location_ids:
            await self._require_locations(location_ids)
        read = await self._availability.of({line.sku for line in lines})
        return rules.availability(lines, rules.promisable(read.levels, location_ids, read.inactive))

    async def _require_locations(self, location_ids: Sequence[str]) -> None:
        async def work(connection: AsyncConnection) -> set[str]:
            return (await catalog.known(connection, (), location_ids))[1]

        known = await self._transactions.read(work)
        for location_id in sorted(set(location_ids)):
            if location_id not in known:
                raise errors.location_not_found(location_id)


def _expect(result: object, kind: type[R]) -> R:
    assert isinstance(result, kind), f"expected a {kind.__name__}, got {result!r}"
    return result
