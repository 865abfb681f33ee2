"""Quote messages to domain values and back."""

from __future__ import annotations

from stockroom.common.contract import set_timestamp
from stockroom.pricing.api.explanations import line_explanation_message
from stockroom.pricing.api.prices import MODE_TO_PROTO, new_price
from stockroom.pricing.api.promotions import TARGET_TO_PROTO, promotion_terms
from stockroom.pricing.api.wire import moment, set_money
from stockroom.pricing.domain.codes import CodeStatus, normalize
from stockroom.pricing.domain.discounts import AppliedDiscount
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.quotes import Availability, Cart, CartLine, PricedLine, Quote
from stockroom.pricing.domain.tax import MAX_RATES_PER_LINE, TaxRate, TaxSplit, parse_rate_percent
from stockroom.pricing.domain.tiers import TierCharge
from stockroom.pricing.domain.validation import (
    MAX_DISPLAY_NAME_LENGTH,
    new_problems,
    raise_if_any,
)
from stockroom.pricing.v1 import pricing_pb2 as pb

AVAILABILITY_TO_PROTO = {
    Availability.IN_STOCK: pb.AVAILABILITY_IN_STOCK,
    Availability.INSUFFICIENT: pb.AVAILABILITY_INSUFFICIENT,
    Availability.UNKNOWN: pb.AVAILABILITY_UNKNOWN,
}


CODE_STATUS_TO_PROTO = {
    CodeStatus.APPLIED: pb.DISCOUNT_CODE_STATUS_APPLIED,
    CodeStatus.UNKNOWN: pb.DISCOUNT_CODE_STATUS_UNKNOWN,
    CodeStatus.EXPIRED: pb.DISCOUNT_CODE_STATUS_EXPIRED,
    CodeStatus.USED_UP: pb.DISCOUNT_CODE_STATUS_USED_UP,
    CodeStatus.NOT_ELIGIBLE: pb.DISCOUNT_CODE_STATUS_NOT_ELIGIBLE,
    CodeStatus.NOT_BEST: pb.DISCOUNT_CODE_STATUS_NOT_BEST,
}


def cart(request: pb.QuoteRequest) -> Cart:
    problems = new_problems()
    price_time = moment(problems, "price_time", request.price_time, request.HasField("price_time"))
    lines = []
    for i, line in enumerate(request.lines):
        rates = []
        for j, rate in enumerate(line.tax_rates[: MAX_RATES_PER_LINE + 1]):
            ppm = parse_rate_percent(rate.rate_percent)
            if ppm is None:
                problems.add(
                    f"lines[{i}].tax_rates[{j}].rate_percent",
                    "must be a percentage 0-100 with at most 4 decimal places, e.g. 8.875",
                    "MALFORMED",
                )
            if len(rate.name) > MAX_DISPLAY_NAME_LENGTH or not rate.name.isprintable():
                problems.add(f"lines[{i}].tax_rates[{j}].name", "is too long", "MALFORMED")
            rates.append(TaxRate(rate.name, ppm or 0))
        lines.append(CartLine(line.sku, line.quantity, tuple(rates)))
    pending_prices = tuple(new_price(pending) for pending in request.pending_prices)
    pending_promotions = tuple(
        promotion_terms(pb.CreatePromotionRequest(promotion=pending))
        for pending in request.pending_promotions
    )
    raise_if_any(problems)
    return Cart(
        lines=tuple(lines),
        scope=PriceListScope(
            request.currency_code, request.channel, request.customer_group, request.country
        ),
        price_time=price_time,
        discount_codes=tuple(normalize(code) for code in request.discount_codes),
        customer_id=request.customer_id,
        explain=request.explain,
        dry_run=request.dry_run,
        reserve=request.reserve,
        pending_prices=pending_prices,
        pending_promotions=pending_promotions,
        draft_list_ids=tuple(request.draft_price_list_ids),
    )


def _set_breakdown(
    message: pb.TaxBreakdown, split: TaxSplit, currency_code: str, line: PricedLine | None
) -> None:
    set_money(message.net, split.net_minor, currency_code)
    set_money(message.tax, split.tax_minor, currency_code)
    set_money(message.gross, split.gross_minor, currency_code)
    if line is not None:
        for rate, amount in zip(line.tax_rates, split.taxes_minor, strict=False):
            tax = message.taxes.add(name=rate.name, rate_percent=rate.percent)
            set_money(tax.amount, amount, currency_code)


def quote_message(quote: Quote) -> pb.QuoteResponse:
    """The answer to a Quote. Built in place: each sub-message is written where it
    lives, never built apart and copied in (a quote holds a few dozen amounts)."""
    currency_code = quote.scope.currency_code
    priced = quote.priced
    response = pb.QuoteResponse(
        availability_note=quote.stock.note,
        quote_id=quote.quote_id,
        currency_code=currency_code,
        availability_reason=quote.stock.reason,
        channel=quote.scope.channel,
        customer_group=quote.scope.customer_group,
        country=quote.scope.country,
        customer_id=quote.customer_id,
        dry_run=quote.dry_run,
    )
    for i, line in enumerate(priced.lines):
        availability, available = quote.stock.of(line.sku, line.quantity)
        message = response.lines.add(
            sku=line.sku,
            quantity=line.quantity,
            availability=AVAILABILITY_TO_PROTO[availability],
            available_quantity=available or 0,
            tiers_mode=MODE_TO_PROTO[line.tiers_mode],
            price_id=line.price_id,
            tax_inclusive=line.tax_inclusive,
            price_list_id=line.price_list_id,
        )
        set_money(message.total, line.total_minor, currency_code)
        for charge in line.charges:
            _set_applied_tier(message.tiers_applied.add(), charge, currency_code)
        for discount in line.discounts:
            _set_discount(message.discounts.add(), discount, currency_code)
        set_money(message.discount_total, line.discount_minor, currency_code)
        set_money(message.net_total, line.net_total_minor, currency_code)
        _set_breakdown(message.tax, line.tax_split, currency_code, line)
        if line.unit_amount_minor is not None:
            set_money(message.unit_price, line.unit_amount_minor, currency_code)
        if quote.explanations:
            message.explanation.CopyFrom(line_explanation_message(quote.explanations[i]))
    set_money(response.subtotal, priced.subtotal_minor, currency_code)
    set_timestamp(response.price_time, quote.price_time)
    set_timestamp(response.create_time, quote.created_at)
    set_timestamp(response.expire_time, quote.expire_at)
    for discount in priced.cart_discounts:
        _set_discount(response.cart_discounts.add(), discount, currency_code)
    set_money(response.discount_total, priced.discount_minor, currency_code)
    set_money(response.total, priced.total_minor, currency_code)
    _set_breakdown(response.tax_total, priced.tax_total, currency_code, None)
    set_money(response.amount_due, priced.amount_due_minor, currency_code)
    set_money(response.cash_rounding, priced.cash_rounding_minor, currency_code)
    for result in quote.codes:
        response.discount_codes.add(
            code=result.code,
            status=CODE_STATUS_TO_PROTO[result.status],
            promotion_id=result.promotion_id,
            detail=result.detail,
        )
    if quote.hold is not None:
        hold = response.hold
        hold.reservation_id = quote.hold.reservation_id
        hold.reason = quote.hold.reason
        hold.note = quote.hold.note
        if quote.hold.expire_at is not None:
            set_timestamp(hold.expire_time, quote.hold.expire_at)
    return response


def _set_applied_tier(message: pb.AppliedTier, charge: TierCharge, currency_code: str) -> None:
    message.tier_index = charge.tier_index
    message.up_to = charge.tier.up_to or 0
    message.quantity = charge.quantity
    set_money(message.unit_amount, charge.tier.unit_amount_minor, currency_code)
    set_money(message.flat_amount, charge.tier.flat_amount_minor, currency_code)
    set_money(message.amount, charge.amount_minor, currency_code)


def _set_discount(
    message: pb.AppliedDiscount, discount: AppliedDiscount, currency_code: str
) -> None:
    message.promotion_id = discount.promotion_id
    message.display_name = discount.display_name
    message.target = TARGET_TO_PROTO[discount.target]
    set_money(message.amount, discount.amount_minor, currency_code)
    message.reason = discount.reason
    message.code = discount.code
    message.promotion_version = discount.promotion_version
