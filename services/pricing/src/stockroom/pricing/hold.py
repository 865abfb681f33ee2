"""Holds a quoted cart's stock in inventory for the quote's lifetime, and never fails a quote.

One ``ReserveStock`` per quote, with the quote's request id as inventory's
request id (a retried quote holds once) and the quote's id as reference; the
reservation expires with the quote. When inventory cannot reserve (not enough
stock, too many lines, not reachable, not allowed), the quote still answers and
says why in its hold.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from google.protobuf import duration_pb2

from stockroom.common.client import deadline_scope, time_remaining_s
from stockroom.common.errors import StockroomError
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from stockroom.pricing.domain.quotes import CartLine, StockHold

logger = logging.getLogger(__name__)

# Inventory's ReserveStock takes at most 100 lines.
MAX_HOLD_LINES = 100
MIN_CALL_S = 0.005


class InventoryHold:
    def __init__(self, stub: inventory_pb2_grpc.InventoryServiceAsyncStub, wait_s: float) -> None:
        self._stub = stub
        self._wait_s = wait_s

    async def hold(
        self,
        lines: Sequence[CartLine],
        ttl: timedelta,
        request_id: str,
        reference: str,
        expire_at: datetime,
    ) -> StockHold:
        if len(lines) > MAX_HOLD_LINES:
            return StockHold(
                "", None, "TOO_MANY_LINES", f"inventory holds at most {MAX_HOLD_LINES} lines"
            )
        # One deadline mechanism: the scope bounds the call by the quote's own deadline
        # (propagated by the server) and by ``wait_s``; nothing passes time around by hand.
        with deadline_scope(self._wait_s):
            return await self._hold(lines, ttl, request_id, reference, expire_at)

    async def _hold(
        self,
        lines: Sequence[CartLine],
        ttl: timedelta,
        request_id: str,
        reference: str,
        expire_at: datetime,
    ) -> StockHold:
        timeout_s = time_remaining_s()
        assert timeout_s is not None  # the scope above always sets one
        if timeout_s < MIN_CALL_S:
            return StockHold("", None, "DEADLINE_TOO_SHORT", "no time was left to ask inventory")
        request = inventory_pb2.ReserveStockRequest(
            lines=[
                inventory_pb2.ReserveStockLine(sku=line.sku, quantity=line.quantity)
                for line in lines
            ],
            ttl=duration_pb2.Duration(seconds=max(1, int(ttl.total_seconds()))),
            reference=reference,
            request_id=request_id,
        )
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._stub.ReserveStock(request)
        except StockroomError as error:
            logger.info("stock not held", extra={"code": error.code, "reason": error.reason})
            return StockHold("", None, error.reason or error.code, error.message)
        except TimeoutError:
            return StockHold("", None, "DEADLINE_EXCEEDED", "inventory did not answer in time")
        reservation = response.reservation
        return StockHold(
            reservation.reservation_id,
            reservation.expire_time.ToDatetime().replace(tzinfo=expire_at.tzinfo),
            "",
            "",
        )
