"""Asks inventory whether a cart can be served, and never lets it fail a quote.

Prices do not depend on stock: when inventory is slow or down, the quote still
goes out with availability UNKNOWN and the reason, within the caller's time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from stockroom.common.errors import StockroomError
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc

logger = logging.getLogger(__name__)

# How long a quote waits for inventory before answering without availability.
DEFAULT_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Availability:
    """Units available per SKU, or None with the reason when inventory could not say."""

    available: dict[str, int] | None
    note: str = ""


class InventoryAvailability:
    def __init__(
        self,
        stub: inventory_pb2_grpc.InventoryServiceAsyncStub,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._stub = stub
        self._timeout_s = timeout_s

    async def check(self, lines: list[tuple[str, int]]) -> Availability:
        request = inventory_pb2.CheckAvailabilityRequest(
            lines=[inventory_pb2.AvailabilityLine(sku=sku, quantity=qty) for sku, qty in lines]
        )
        try:
            response = await self._stub.CheckAvailability(request, timeout=self._timeout_s)
        except StockroomError as error:
            logger.warning("availability unknown", extra={"reason": error.reason})
            return Availability(None, f"inventory did not answer: {error.reason}")
        return Availability({line.sku: line.available for line in response.lines})
