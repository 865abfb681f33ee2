"""Supply use cases: inventory policies (refuse, backorder, preorder) and expected receipts.

Setting a policy, creating and cancelling an expected receipt go through the
batched writes like every stock write (they are decided with the levels they
touch); listing reads the tables.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import RequestKey
from stockroom.inventory.domain.model import ExpectedReceiptChange, Page
from stockroom.inventory.domain.supply import (
    CancelExpectedReceipt,
    CreateExpectedReceipt,
    ExpectedReceipt,
    InventoryPolicy,
    SetPolicy,
)
from stockroom.inventory.service.writes import StockWrites
from stockroom.inventory.store import expected_receipts, policies
from stockroom.inventory.store.transactions import Transactions


class SupplyService:
    def __init__(self, transactions: Transactions, writes: StockWrites) -> None:
        self._transactions = transactions
        self._writes = writes

    async def set_policy(self, command: SetPolicy, key: RequestKey) -> InventoryPolicy:
        result = await self._writes.submit(command, key)
        assert isinstance(result, InventoryPolicy), result
        return result

    async def policies(
        self, sku: str, after: tuple[str, str] | None, size: int
    ) -> Page[InventoryPolicy]:
        async def work(connection: AsyncConnection) -> Page[InventoryPolicy]:
            return await policies.page(connection, sku, after, size)

        return await self._transactions.read(work)

    async def create_expected(
        self, command: CreateExpectedReceipt, key: RequestKey
    ) -> ExpectedReceiptChange:
        result = await self._writes.submit(command, key)
        assert isinstance(result, ExpectedReceiptChange), result
        return result

    async def cancel_expected(
        self, command: CancelExpectedReceipt, key: RequestKey
    ) -> ExpectedReceiptChange:
        result = await self._writes.submit(command, key)
        assert isinstance(result, ExpectedReceiptChange), result
        return result

    async def expected(
        self,
        *,
        sku: str,
        location_id: str,
        include_closed: bool,
        after: tuple[int, str] | None,
        size: int,
    ) -> Page[ExpectedReceipt]:
        async def work(connection: AsyncConnection) -> Page[ExpectedReceipt]:
            return await expected_receipts.page(
                connection,
                sku=sku,
                location_id=location_id,
                include_closed=include_closed,
                after=after,
                size=size,
            )

        return await self._transactions.read(work)
