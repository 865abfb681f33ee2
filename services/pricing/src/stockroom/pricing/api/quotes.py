"""Quote messages to domain values and back."""

from __future__ import annotations

from stockroom.pricing.api.explanations import line_explanation_message
from stockroom.pricing.api.prices import MODE_TO_PROTO, new_price
from stockroom.pricing.api.promotions import TARGET_TO_PROTO, promotion_terms
from stockroom.pricing.api.wire import moment, to_money, to_timestamp
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


def _breakdown(split: TaxSplit, currency_code: str, line: PricedLine | None) -> pb.TaxBreakdown:
    message = pb.TaxBreakdown(
        net=to_money(split.net_minor, currency_code),
        tax=to_money(split.tax_minor, currency_code),
        gross=to_money(split.gross_minor, currency_code),
    )
    if line is not None:
        for rate, amount in zip(line.tax_rates, split.taxes_minor, strict=False):
            message.taxes.append(
                pb.TaxAmount(
                    name=rate.name,
                    rate_percent=rate.percent,
                    amount=to_money(amount, currency_code),
                )
            )
    return message


def quote_message(quote: Quote) -> pb.QuoteResponse:
    currency_code = quote.scope.currency_code
    priced = quote.priced

    lines = []
    for i, line in enumerate(priced.lines):
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
            tax_inclusive=line.tax_inclusive,
            tax=_breakdown(line.tax_split, currency_code, line),
            price_list_id=line.price_list_id,
        )
        if line.unit_amount_minor is not None:
            message.unit_price.CopyFrom(to_money(line.unit_amount_minor, currency_code))
        if quote.explanations:
            message.explanation.CopyFrom(line_explanation_message(quote.explanations[i]))
        lines.append(message)
    response = pb.QuoteResponse(
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
        country=quote.scope.country,
        tax_total=_breakdown(priced.tax_total, currency_code, None),
        amount_due=to_money(priced.amount_due_minor, currency_code),
        cash_rounding=to_money(priced.cash_rounding_minor, currency_code),
        discount_codes=[
            pb.DiscountCodeResult(
                code=result.code,
                status=CODE_STATUS_TO_PROTO[result.status],
                promotion_id=result.promotion_id,
                detail=result.detail,
            )
            for result in quote.codes
        ],
        customer_id=quote.customer_id,
        dry_run=quote.dry_run,
    )
    if quote.hold is not None:
        response.hold.CopyFrom(
            pb.StockHold(
                reservation_id=quote.hold.reservation_id,
                reason=quote.hold.reason,
                note=quote.hold.note,
            )
        )
        if quote.hold.expire_at is not None:
            response.hold.expire_time.CopyFrom(to_timestamp(quote.hold.expire_at))
    return response


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
        code=discount.code,
        promotion_version=discount.promotion_version,
    )
