"""Promotion messages to domain values and back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from stockroom.common.errors import FieldErrors
from stockroom.pricing.api.wire import amount_minor, moment, to_money, to_timestamp
from stockroom.pricing.domain.codes import DiscountCode
from stockroom.pricing.domain.promotions import (
    Promotion,
    PromotionLimits,
    PromotionState,
    PromotionTarget,
    PromotionTerms,
)
from stockroom.pricing.domain.validation import new_problems, raise_if_any
from stockroom.pricing.v1 import pricing_pb2 as pb

TARGET_FROM_PROTO = {
    pb.PROMOTION_TARGET_SKUS: PromotionTarget.SKUS,
    pb.PROMOTION_TARGET_CART: PromotionTarget.CART,
}
TARGET_TO_PROTO = {target: number for number, target in TARGET_FROM_PROTO.items()}


STATE_TO_PROTO = {
    PromotionState.ACTIVE: pb.PROMOTION_STATE_ACTIVE,
    PromotionState.SCHEDULED: pb.PROMOTION_STATE_SCHEDULED,
    PromotionState.PAUSED: pb.PROMOTION_STATE_PAUSED,
    PromotionState.ENDED: pb.PROMOTION_STATE_ENDED,
}
STATE_FROM_PROTO = {number: state for state, number in STATE_TO_PROTO.items()}


def states(requested: Sequence[int]) -> frozenset[PromotionState]:
    """The states a ListPromotions filters by; INVALID_ARGUMENT for unknown ones."""
    problems = new_problems()
    for i, number in enumerate(requested):
        if number not in STATE_FROM_PROTO:
            problems.add(f"states[{i}]", "is not a PromotionState", "UNKNOWN_ENUM_VALUE")
    raise_if_any(problems)
    return frozenset(STATE_FROM_PROTO[pb.PromotionState.ValueType(n)] for n in requested)


def promotion_terms(
    request: pb.CreatePromotionRequest | pb.UpdatePromotionRequest,
) -> PromotionTerms:
    """The terms a CreatePromotion or UpdatePromotion asks for; INVALID_ARGUMENT for
    malformed fields."""
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
    limits = _limits(problems, promotion.limits, f"{field}.limits", currency_code)
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
        requires_code=promotion.requires_code,
        limits=limits,
    )


def _limits(
    problems: FieldErrors, message: pb.PromotionLimits, field: str, currency_code: str | None
) -> PromotionLimits:
    budgets: list[int | None] = []
    for name in ("budget", "budget_per_customer"):
        amount = None
        if message.HasField(name):
            amount = amount_minor(
                problems, f"{field}.{name}", getattr(message, name), currency_code=currency_code
            )
        budgets.append(amount or None)
    for name in ("max_uses", "max_uses_per_customer"):
        if getattr(message, name) < 0:
            problems.add(f"{field}.{name}", "must not be negative", "NEGATIVE")
    return PromotionLimits(
        max_uses=message.max_uses or None,
        max_uses_per_customer=message.max_uses_per_customer or None,
        budget_minor=budgets[0],
        budget_per_customer_minor=budgets[1],
    )


def promotion_message(promotion: Promotion, now: datetime) -> pb.Promotion:
    terms = promotion.terms
    limits = terms.limits
    message = pb.Promotion(
        promotion_id=promotion.promotion_id,
        display_name=terms.display_name,
        currency_code=terms.currency_code,
        target=TARGET_TO_PROTO[terms.target],
        skus=sorted(terms.skus),
        minimum_quantity=terms.minimum_quantity,
        valid_from=to_timestamp(promotion.valid_from),
        create_time=to_timestamp(promotion.created_at),
        state=STATE_TO_PROTO[promotion.state_at(now)],
        version=promotion.version,
        requires_code=terms.requires_code,
        limits=pb.PromotionLimits(
            max_uses=limits.max_uses or 0,
            max_uses_per_customer=limits.max_uses_per_customer or 0,
        ),
        usage=pb.PromotionUsage(uses=promotion.usage.uses),
        update_time=to_timestamp(promotion.updated_at or promotion.created_at),
    )
    if terms.currency_code:
        message.usage.spent.CopyFrom(to_money(promotion.usage.spent_minor, terms.currency_code))
    if limits.budget_minor is not None:
        message.limits.budget.CopyFrom(to_money(limits.budget_minor, terms.currency_code))
    if limits.budget_per_customer_minor is not None:
        message.limits.budget_per_customer.CopyFrom(
            to_money(limits.budget_per_customer_minor, terms.currency_code)
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


def code_message(code: DiscountCode) -> pb.DiscountCode:
    return pb.DiscountCode(
        code=code.code,
        promotion_id=code.promotion_id,
        max_uses=code.max_uses or 0,
        uses=code.uses,
    )
