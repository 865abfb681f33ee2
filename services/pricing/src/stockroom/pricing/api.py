"""The gRPC face of pricing: proto in, domain call, proto out."""

from __future__ import annotations

from typing import Any

from stockroom.common.errors import FieldErrors, NotFound, ResourceRef
from stockroom.pricing.availability import InventoryAvailability
from stockroom.pricing.money import exponent, to_minor, to_money
from stockroom.pricing.store import PriceStore
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

Context = Any
DOMAIN = "pricing.stockroom"


class PricingServicer(pb_grpc.PricingServiceServicer):
    def __init__(self, store: PriceStore, availability: InventoryAvailability) -> None:
        self.store = store
        self.availability = availability

    async def SetPrice(self, request: pb.SetPriceRequest, context: Context) -> pb.SetPriceResponse:
        problems = FieldErrors(domain=DOMAIN)
        if not request.sku:
            problems.add("sku", "is required", "REQUIRED")
        if not request.HasField("unit_price"):
            problems.add("unit_price", "is required", "REQUIRED")
        problems.raise_if_any()
        amount_minor = to_minor(request.unit_price, "unit_price")
        if amount_minor < 0:
            problems.add("unit_price", "must not be negative", "NEGATIVE")
            problems.raise_if_any()
        currency = request.unit_price.currency_code
        await self.store.set_price(request.sku, currency, amount_minor)
        return pb.SetPriceResponse(unit_price=to_money(amount_minor, currency))

    async def Quote(self, request: pb.QuoteRequest, context: Context) -> pb.QuoteResponse:
        problems = FieldErrors(domain=DOMAIN)
        if not request.lines:
            problems.add("lines", "at least one line is required", "EMPTY")
        for i, line in enumerate(request.lines):
            if not line.sku:
                problems.add(f"lines[{i}].sku", "is required", "REQUIRED")
            if line.quantity <= 0:
                problems.add(f"lines[{i}].quantity", "must be positive", "NOT_POSITIVE")
        problems.raise_if_any()
        currency = request.currency_code
        exponent(currency)
        unit_prices = await self.store.unit_prices([line.sku for line in request.lines], currency)
        missing = [line.sku for line in request.lines if line.sku not in unit_prices]
        if missing:
            raise NotFound(
                f"no {currency} price for {', '.join(missing)}",
                reason="PRICE_NOT_FOUND",
                domain=DOMAIN,
                resource=ResourceRef("price", f"{missing[0]}/{currency}"),
            )
        stock = await self.availability.check([(line.sku, line.quantity) for line in request.lines])
        lines = []
        for line in request.lines:
            total = unit_prices[line.sku] * line.quantity
            quoted = pb.QuoteLine(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=to_money(unit_prices[line.sku], currency),
                total=to_money(total, currency),
                availability=pb.AVAILABILITY_UNKNOWN,
            )
            if stock.available is not None:
                available = stock.available.get(line.sku, 0)
                quoted.available_quantity = available
                quoted.availability = (
                    pb.AVAILABILITY_IN_STOCK
                    if available >= line.quantity
                    else pb.AVAILABILITY_INSUFFICIENT
                )
            lines.append(quoted)
        subtotal = sum(unit_prices[line.sku] * line.quantity for line in request.lines)
        return pb.QuoteResponse(
            lines=lines, subtotal=to_money(subtotal, currency), availability_note=stock.note
        )
