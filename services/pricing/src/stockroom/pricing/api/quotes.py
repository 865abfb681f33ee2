"""Quote messages to domain values and back."""

from __future__ import annotations

from stockroom.pricing.api.prices import MODE_TO_PROTO
from stockroom.pricing.api.promotions import TARGET_TO_PROTO
from stockroom.pricing.api.wire import moment, to_money, to_timestamp
from stockroom.pricing.domain.discounts import AppliedDiscount
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.quotes import Availability, Cart, CartLine, Quote
from stockroom.pricing.domain.tiers import TierCharge
from stockroom.pricing.domain.validation import new_problems, raise_if_any
from stockroom.pricing.v1 import pricing_pb2 as pb

AVAILABILITY_TO_PROTO = {
    Availability.IN_STOCK: pb.AVAILABILITY_IN_STOCK,
    Availability.INSUFFICIENT: pb.AVAILABILITY_INSUFFICIENT,
    Availability.UNKNOWN: pb.AVAILABILITY_UNKNOWN,
}


def cart(request: pb.QuoteRequest) -> Cart:
    problems = new_problems()
    price_time = moment(problems, "price_time", request.price_time, request.HasField("price_time"))
    raise_if_any(problems)
    return Cart(
        lines=tuple(CartLine(line.sku, line.quantity) for line in request.lines),
        scope=PriceListScope(request.currency_code, request.channel, request.customer_group),
        price_time=price_time,
    )


def quote_message(quote: Quote) -> pb.QuoteResponse:
    currency_code = quote.scope.currency_code
    priced = quote.priced

    lines = []
    for line in priced.lines:
        availability, available = quote.stock.of(line.sku, line.quantity)
        message = pb.QuoteLine(
            sku=line.sku,
            quantity=line.quantity,
            total=to_money(line.total_minor, currency_code),
            availability=AVAILABILITY_TO_PROTO[availability],
            available_quantity=available or 0,
            tiers_mode=MODE_TO_PROTO[line.tiers_mode],
            tiers_applied=[_applied_tier(c, currency_code) for c in line.charges],
            discounts=[_discount(d, currency_code) for d in line.discounts],
            discount_total=to_money(line.discount_minor, currency_code),
            net_total=to_money(line.net_total_minor, currency_code),
            price_id=line.price_id,
        )
        if line.unit_amount_minor is not None:
            message.unit_price.CopyFrom(to_money(line.unit_amount_minor, currency_code))
        lines.append(message)
    return pb.QuoteResponse(
        lines=lines,
        subtotal=to_money(priced.subtotal_minor, currency_code),
        availability_note=quote.stock.note,
        quote_id=quote.quote_id,
        currency_code=currency_code,
        price_time=to_timestamp(quote.price_time),
        create_time=to_timestamp(quote.created_at),
        expire_time=to_timestamp(quote.expire_at),
        cart_discounts=[_discount(d, currency_code) for d in priced.cart_discounts],
        discount_total=to_money(priced.discount_minor, currency_code),
        total=to_money(priced.total_minor, currency_code),
        availability_reason=quote.stock.reason,
        channel=quote.scope.channel,
        customer_group=quote.scope.customer_group,
    )


def _applied_tier(charge: TierCharge, currency_code: str) -> pb.AppliedTier:
    return pb.AppliedTier(
        tier_index=charge.tier_index,
        up_to=charge.tier.up_to or 0,
        quantity=charge.quantity,
        unit_amount=to_money(charge.tier.unit_amount_minor, currency_code),
        flat_amount=to_money(charge.tier.flat_amount_minor, currency_code),
        amount=to_money(charge.amount_minor, currency_code),
    )


def _discount(discount: AppliedDiscount, currency_code: str) -> pb.AppliedDiscount:
    return pb.AppliedDiscount(
        promotion_id=discount.promotion_id,
        display_name=discount.display_name,
        target=TARGET_TO_PROTO[discount.target],
        amount=to_money(discount.amount_minor, currency_code),
        reason=discount.reason,
    )
