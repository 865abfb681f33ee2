"""Promotions: percentage or fixed-amount discounts on SKUs or on the cart.

A promotion applies to a cart when it is in effect at the quote's moment
(``[valid_from, valid_until)``), is in the quote's currency (or in every
currency) and its eligible lines meet its minimums. Eligible lines are the
lines of its SKUs (target SKUS) or every line (target CART). The store
selects the promotions in effect and in the currency; ``discounts`` checks
the minimums.

How promotions combine (``stockroom.pricing.domain.discounts`` applies it):
each line gets at most one SKU promotion, the one that takes the most off
it; then the cart gets at most one cart promotion, the one that takes the
most off the subtotal left after the line discounts. Nothing stacks beyond
that, and no discount takes more than what is left of the amount it acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from stockroom.common.contract import MAX_QUANTITY
from stockroom.common.errors import FieldErrors
from stockroom.pricing.domain.money import (
    BASIS_POINTS_PER_WHOLE,
    MAX_AMOUNT_MINOR,
    percentage_of,
)
from stockroom.pricing.domain.prices import CLOCK_SKEW_ALLOWANCE
from stockroom.pricing.domain.validation import (
    check_currency,
    check_display_name,
    check_sku,
)

MAX_PROMOTION_SKUS = 1000


class PromotionTarget(Enum):
    SKUS = "SKUS"
    CART = "CART"


@dataclass(frozen=True)
class PromotionTerms:
    """What a promotion gives and when: everything the caller chooses."""

    display_name: str
    currency_code: str
    target: PromotionTarget
    skus: frozenset[str]
    basis_points_off: int | None
    amount_off_minor: int | None
    minimum_quantity: int = 0
    minimum_subtotal_minor: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True)
class Promotion:
    """A recorded promotion; its terms never change once created."""

    promotion_id: str
    terms: PromotionTerms
    valid_from: datetime
    created_at: datetime

    def applies_in(self, currency_code: str) -> bool:
        return self.terms.currency_code in ("", currency_code)

    def eligible(self, sku: str) -> bool:
        return self.terms.target is PromotionTarget.CART or sku in self.terms.skus

    def minimums_met(self, quantity: int, subtotal_minor: int) -> bool:
        minimum_subtotal = self.terms.minimum_subtotal_minor or 0
        return quantity >= self.terms.minimum_quantity and subtotal_minor >= minimum_subtotal

    def amount_off(self, amount_minor: int, quantity: int) -> int:
        """What this promotion takes off ``amount_minor`` (for ``quantity`` units).

        A percentage is rounded half to even to a minor unit; a fixed amount
        is per unit on SKU promotions and once on cart promotions. Never more
        than ``amount_minor``, so no total goes negative.
        """
        terms = self.terms
        if terms.basis_points_off is not None:
            off = percentage_of(amount_minor, terms.basis_points_off)
        elif terms.target is PromotionTarget.SKUS:
            off = (terms.amount_off_minor or 0) * quantity
        else:
            off = terms.amount_off_minor or 0
        return min(off, amount_minor)

    @property
    def precedence(self) -> tuple[datetime, str]:
        """Breaks ties between promotions that take off the same: the older one wins."""
        return (self.created_at, self.promotion_id)


def validate_terms(problems: FieldErrors, terms: PromotionTerms, now: datetime) -> datetime:
    """Add every problem with ``terms`` to ``problems``; return the valid_from to record."""
    field = "promotion"
    check_display_name(problems, f"{field}.display_name", terms.display_name)
    if not terms.display_name:
        problems.add(f"{field}.display_name", "is required", "REQUIRED")
    needs_currency = terms.amount_off_minor is not None or terms.minimum_subtotal_minor is not None
    if terms.currency_code or needs_currency:
        check_currency(problems, f"{field}.currency_code", terms.currency_code)
    if terms.target is PromotionTarget.SKUS:
        if not terms.skus:
            problems.add(f"{field}.skus", "a SKU promotion needs at least one SKU", "REQUIRED")
        if len(terms.skus) > MAX_PROMOTION_SKUS:
            problems.add(f"{field}.skus", f"at most {MAX_PROMOTION_SKUS} SKUs", "TOO_MANY")
        for sku in sorted(terms.skus):
            check_sku(problems, f"{field}.skus", sku)
    elif terms.skus:
        problems.add(f"{field}.skus", "a cart promotion names no SKUs", "NOT_ALLOWED")
    _validate_discount(problems, terms, field)
    if not 0 <= terms.minimum_quantity <= MAX_QUANTITY:
        problems.add(
            f"{field}.minimum_quantity", f"must be between 0 and {MAX_QUANTITY}", "OUT_OF_RANGE"
        )
    if terms.minimum_subtotal_minor is not None and not (
        0 <= terms.minimum_subtotal_minor <= MAX_AMOUNT_MINOR
    ):
        problems.add(f"{field}.minimum_subtotal", "must not be negative", "NEGATIVE")
    valid_from = terms.valid_from or now
    if valid_from < now - CLOCK_SKEW_ALLOWANCE:
        problems.add(
            f"{field}.valid_from",
            "must not be in the past: quotes already made would change",
            "IN_THE_PAST",
        )
    valid_from = max(valid_from, now)
    if terms.valid_until is not None and terms.valid_until <= valid_from:
        problems.add(f"{field}.valid_until", "must be after valid_from", "NOT_AFTER_VALID_FROM")
    return valid_from


def _validate_discount(problems: FieldErrors, terms: PromotionTerms, field: str) -> None:
    if (terms.basis_points_off is None) == (terms.amount_off_minor is None):
        problems.add(
            f"{field}.discount",
            "set exactly one of basis_points_off and amount_off",
            "DISCOUNT_REQUIRED",
        )
    if terms.basis_points_off is not None and not (
        0 < terms.basis_points_off <= BASIS_POINTS_PER_WHOLE
    ):
        problems.add(
            f"{field}.basis_points_off",
            f"must be 1-{BASIS_POINTS_PER_WHOLE} (hundredths of a percent)",
            "OUT_OF_RANGE",
        )
    if terms.amount_off_minor is not None and not 0 < terms.amount_off_minor <= MAX_AMOUNT_MINOR:
        problems.add(f"{field}.amount_off", "must be positive", "NOT_POSITIVE")
