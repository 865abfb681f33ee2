"""Promotion messages to domain values and back."""

from __future__ import annotations

from stockroom.pricing.api.wire import amount_minor, moment, to_money, to_timestamp
from stockroom.pricing.domain.promotions import Promotion, PromotionTarget, PromotionTerms
from stockroom.pricing.domain.validation import new_problems, raise_if_any
from stockroom.pricing.v1 import pricing_pb2 as pb

TARGET_FROM_PROTO = {
    pb.PROMOTION_TARGET_SKUS: PromotionTarget.SKUS,
    pb.PROMOTION_TARGET_CART: PromotionTarget.CART,
}
TARGET_TO_PROTO = {target: number for number, target in TARGET_FROM_PROTO.items()}


def promotion_terms(request: pb.CreatePromotionRequest) -> PromotionTerms:
    """The terms a CreatePromotion asks for; INVALID_ARGUMENT for malformed fields."""
    problems = new_problems()
    promotion = request.promotion
    field = "promotion"
    if not request.HasField("promotion"):
        problems.add(field, "is required", "REQUIRED")
    target = TARGET_FROM_PROTO.get(promotion.target)
    if target is None:
        problems.add(f"{field}.target", "must be SKUS or CART", "REQUIRED")
    # Every amount is in the promotion's currency; a missing currency_code is
    # reported by the domain rules, a differing one here.
    currency_code = promotion.currency_code or None
    amount_off = None
    if promotion.HasField("amount_off"):
        amount_off = amount_minor(
            problems, f"{field}.amount_off", promotion.amount_off, currency_code=currency_code
        )
    minimum_subtotal = None
    if promotion.HasField("minimum_subtotal"):
        minimum_subtotal = amount_minor(
            problems,
            f"{field}.minimum_subtotal",
            promotion.minimum_subtotal,
            currency_code=currency_code,
        )
    valid_from = moment(
        problems, f"{field}.valid_from", promotion.valid_from, promotion.HasField("valid_from")
    )
    valid_until = moment(
        problems, f"{field}.valid_until", promotion.valid_until, promotion.HasField("valid_until")
    )
    raise_if_any(problems)
    assert target is not None  # reported above
    return PromotionTerms(
        display_name=promotion.display_name,
        currency_code=promotion.currency_code,
        target=target,
        skus=frozenset(promotion.skus),
        basis_points_off=(
            promotion.basis_points_off if promotion.HasField("basis_points_off") else None
        ),
        amount_off_minor=amount_off,
        minimum_quantity=promotion.minimum_quantity,
        minimum_subtotal_minor=minimum_subtotal,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def promotion_message(promotion: Promotion) -> pb.Promotion:
    terms = promotion.terms
    message = pb.Promotion(
        promotion_id=promotion.promotion_id,
        display_name=terms.display_name,
        currency_code=terms.currency_code,
        target=TARGET_TO_PROTO[terms.target],
        skus=sorted(terms.skus),
        minimum_quantity=terms.minimum_quantity,
        valid_from=to_timestamp(promotion.valid_from),
        create_time=to_timestamp(promotion.created_at),
    )
    if terms.basis_points_off is not None:
        message.basis_points_off = terms.basis_points_off
    if terms.amount_off_minor is not None:
        message.amount_off.CopyFrom(to_money(terms.amount_off_minor, terms.currency_code))
    if terms.minimum_subtotal_minor is not None:
        message.minimum_subtotal.CopyFrom(
            to_money(terms.minimum_subtotal_minor, terms.currency_code)
        )
    if terms.valid_until is not None:
        message.valid_until.CopyFrom(to_timestamp(terms.valid_until))
    return message
