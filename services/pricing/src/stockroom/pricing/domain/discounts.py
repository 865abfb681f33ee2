"""Choosing and applying promotions to a priced cart: the combination rule in code.

1. Each line gets at most one SKU promotion: of those whose SKUs include the
   line's SKU and whose minimums the eligible lines (all cart lines of its
   SKUs, before discounts) meet, the one taking the most off the line.
2. The cart gets at most one cart promotion: of those whose minimums the cart
   meets (every unit; the subtotal after line discounts), the one taking the
   most off that subtotal.
3. Ties go to the older promotion. A discount never exceeds what is left of
   its amount, so no line and no total goes negative, nor what is left of
   its promotion's budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from stockroom.pricing.domain.money import RoundingMode, to_decimal
from stockroom.pricing.domain.promotions import Promotion, PromotionTarget


@dataclass(frozen=True)
class AppliedDiscount:
    """What a promotion took off, and why it applied (for people)."""

    promotion_id: str
    display_name: str
    target: PromotionTarget
    amount_minor: int
    reason: str
    code: str = ""
    promotion_version: int = 0


@dataclass(frozen=True)
class LineAmount:
    """A cart line as discounts see it: its SKU, units and total before discounts."""

    sku: str
    quantity: int
    total_minor: int


@dataclass(frozen=True)
class Offers:
    """What the cart's promotions may give beyond their terms: the rounding mode, the
    budget each has left (absent: no budget), the code that unlocked each."""

    mode: RoundingMode = RoundingMode.HALF_EVEN
    budget_left: Mapping[str, int] = field(default_factory=dict)
    codes: Mapping[str, str] = field(default_factory=dict)


NO_OFFERS = Offers()


def line_discounts(
    lines: Sequence[LineAmount],
    promotions: Sequence[Promotion],
    currency_code: str,
    exponent: int,
    offers: Offers = NO_OFFERS,
) -> list[AppliedDiscount | None]:
    """The SKU promotion each line gets (rule 1), in line order. A promotion with a
    budget gives, over all lines together, at most what its budget has left."""
    left = dict(offers.budget_left)
    sku_promotions = [p for p in promotions if p.terms.target is PromotionTarget.SKUS]
    qualifying: list[tuple[Promotion, int, int]] = []
    for promotion in sku_promotions:
        eligible = [line for line in lines if promotion.eligible(line.sku)]
        quantity = sum(line.quantity for line in eligible)
        subtotal = sum(line.total_minor for line in eligible)
        if eligible and promotion.minimums_met(quantity, subtotal):
            qualifying.append((promotion, quantity, subtotal))
    chosen: list[AppliedDiscount | None] = []
    for line in lines:
        candidates = [
            (
                _capped(
                    promotion.amount_off(line.total_minor, line.quantity, offers.mode),
                    promotion,
                    left,
                ),
                promotion,
                quantity,
                subtotal,
            )
            for promotion, quantity, subtotal in qualifying
            if promotion.eligible(line.sku)
        ]
        if not candidates:
            chosen.append(None)
            continue
        off, promotion, quantity, subtotal = min(candidates, key=lambda c: (-c[0], c[1].precedence))
        reason = _reason(promotion, quantity, subtotal, currency_code, exponent)
        if promotion.promotion_id in left:
            left[promotion.promotion_id] -= off
        chosen.append(_applied(promotion, off, reason, offers) if off else None)
    return chosen


def _capped(off: int, promotion: Promotion, left: Mapping[str, int]) -> int:
    return min(off, left.get(promotion.promotion_id, off))


def cart_discount(
    quantity: int,
    subtotal_after_lines_minor: int,
    promotions: Sequence[Promotion],
    currency_code: str,
    exponent: int,
    offers: Offers = NO_OFFERS,
) -> AppliedDiscount | None:
    """The cart promotion the cart gets (rule 2), with its whole amount."""
    candidates = [
        (
            _capped(
                promotion.amount_off(subtotal_after_lines_minor, quantity, offers.mode),
                promotion,
                offers.budget_left,
            ),
            promotion,
        )
        for promotion in promotions
        if promotion.terms.target is PromotionTarget.CART
        and promotion.minimums_met(quantity, subtotal_after_lines_minor)
    ]
    if not candidates:
        return None
    off, promotion = min(candidates, key=lambda c: (-c[0], c[1].precedence))
    if not off:
        return None
    reason = _reason(promotion, quantity, subtotal_after_lines_minor, currency_code, exponent)
    return _applied(promotion, off, reason, offers)


def _applied(promotion: Promotion, off: int, reason: str, offers: Offers) -> AppliedDiscount:
    return AppliedDiscount(
        promotion.promotion_id,
        promotion.terms.display_name,
        promotion.terms.target,
        off,
        reason,
        offers.codes.get(promotion.promotion_id, ""),
        promotion.version,
    )


def _reason(
    promotion: Promotion, quantity: int, subtotal_minor: int, currency_code: str, exponent: int
) -> str:
    terms = promotion.terms

    def money(amount_minor: int) -> str:
        return f"{to_decimal(amount_minor, exponent)} {currency_code}"

    if terms.basis_points_off is not None:
        percent = Decimal(terms.basis_points_off).scaleb(-2).normalize()
        what = f"{percent:f} % off"
    elif terms.target is PromotionTarget.SKUS:
        what = f"{money(terms.amount_off_minor or 0)} off each unit"
    else:
        what = f"{money(terms.amount_off_minor or 0)} off the cart"
    if terms.target is PromotionTarget.SKUS:
        what += " of " + ", ".join(sorted(terms.skus))
    conditions = []
    if terms.minimum_quantity:
        conditions.append(f"{quantity} units reached the minimum of {terms.minimum_quantity}")
    if terms.minimum_subtotal_minor:
        conditions.append(
            f"{money(subtotal_minor)} reached the minimum of {money(terms.minimum_subtotal_minor)}"
        )
    return what + (": " + "; ".join(conditions) if conditions else "")
