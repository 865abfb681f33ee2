"""Asks inventory whether a cart can be served, and never lets it fail a quote.

Prices do not depend on stock: when inventory is slow, down or cut off by a
circuit breaker, the quote still goes out, within the caller's deadline,
with availability UNKNOWN and the reason. The call runs in a
``deadline_scope``: the deadline propagated from the quote being served (or
``max_wait_s`` when the caller set none, and never more than it), with
``reserve_s`` kept back for the work pricing does after the answer (storing
the quote, replying). Nothing passes the remaining time around by hand.

One failure is not swallowed: inventory answering INVALID_ARGUMENT. Pricing
checks a cart by inventory's own rules before asking, so that answer means
the cart has something inventory refuses that pricing let through; the
caller gets INVALID_ARGUMENT (reason INVENTORY_REJECTED_CART, with
inventory's field violations) rather than a quote that hides it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from stockroom.common.client import deadline_scope, time_remaining_s
from stockroom.common.errors import InvalidArgument, StockroomError
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from stockroom.pricing.availability_calls import AvailabilityCalls
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.domain.quotes import CartLine, StockCheck

logger = logging.getLogger(__name__)

# Below this, a call cannot even cross the loopback and back; not worth starting.
MIN_CALL_S = 0.005


class InventoryAvailability:
    def __init__(
        self,
        stub: inventory_pb2_grpc.InventoryServiceAsyncStub,
        *,
        max_wait_s: float,
        reserve_s: float,
        max_in_flight: int = 2,
    ) -> None:
        """``max_in_flight``: calls to inventory on their way at once; checks that come
        meanwhile wait and go together in the next one."""
        self.calls = AvailabilityCalls(stub, max_in_flight=max_in_flight)
        self.max_wait_s = max_wait_s
        self.reserve_s = reserve_s

    async def check(self, lines: Sequence[CartLine]) -> StockCheck:
        with deadline_scope(self.max_wait_s, keep_back_s=self.reserve_s):
            return await self._check(lines)

    async def _check(self, lines: Sequence[CartLine]) -> StockCheck:
        timeout_s = time_remaining_s()
        assert timeout_s is not None  # the scope above always sets one
        if timeout_s < MIN_CALL_S:
            return StockCheck.unknown(
                "DEADLINE_TOO_SHORT",
                "inventory was not asked: the caller's deadline left no time for it",
            )
        request = inventory_pb2.CheckAvailabilityRequest(
            lines=[
                inventory_pb2.AvailabilityLine(sku=line.sku, quantity=line.quantity)
                for line in lines
            ]
        )
        try:
            # ``connect``'s deadline interceptor sends the scope's deadline on the wire;
            # asyncio.timeout bounds the wait here too, whatever channel was injected.
            async with asyncio.timeout(timeout_s):
                response = await self.calls.check(request)
        except InvalidArgument as error:
            logger.error(
                "inventory rejected a cart pricing accepted",
                extra={"reason": error.reason, "violations": len(error.field_violations)},
            )
            raise InvalidArgument(
                f"inventory rejected the cart: {error.message}",
                reason="INVENTORY_REJECTED_CART",
                domain=DOMAIN,
                field_violations=error.field_violations,
                metadata={"inventory_reason": error.reason},
            ) from error
        except StockroomError as error:
            logger.warning(
                "availability unknown", extra={"code": error.code, "reason": error.reason}
            )
            return StockCheck.unknown(
                error.reason, f"inventory did not answer: {error.code} ({error.message})"
            )
        except TimeoutError:
            logger.warning("availability unknown", extra={"reason": "DEADLINE_EXCEEDED"})
            return StockCheck.unknown(
                "DEADLINE_EXCEEDED", f"inventory did not answer within {timeout_s:.3f} s"
            )
        return StockCheck({line.sku: line.available for line in response.lines})
