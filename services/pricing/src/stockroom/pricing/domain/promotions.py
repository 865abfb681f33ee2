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

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from stockroom.common.contract import MAX_QUANTITY
from stockroom.common.errors import FailedPrecondition, FieldErrors, PreconditionViolation
from stockroom.pricing.domain.money import (
    BASIS_POINTS_PER_WHOLE,
    DOMAIN,
    MAX_AMOUNT_MINOR,
    RoundingMode,
    percentage_of,
)
from stockroom.pricing.domain.prices import CLOCK_SKEW_ALLOWANCE, recording_order
from stockroom.pricing.domain.validation import (
    check_currency,
    check_display_name,
    check_sku,
    new_problems,
    raise_if_any,
)

MAX_PROMOTION_SKUS = 1000


class PromotionTarget(Enum):
    SKUS = "SKUS"
    CART = "CART"


class PromotionStatus(Enum):
    """What was decided about a promotion: the stored part of its state."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    ENDED = "ENDED"


class PromotionState(Enum):
    """Where a promotion is at a moment: its status and its validity window together."""

    ACTIVE = "ACTIVE"
    SCHEDULED = "SCHEDULED"
    PAUSED = "PAUSED"
    ENDED = "ENDED"


class LifecycleChange(Enum):
    PAUSE = "PAUSE"
    RESUME = "RESUME"
    END = "END"


@dataclass(frozen=True)
class PromotionLimits:
    """How often and for how much a promotion may be redeemed; None: without limit."""

    max_uses: int | None = None
    max_uses_per_customer: int | None = None
    budget_minor: int | None = None
    budget_per_customer_minor: int | None = None

    @property
    def per_customer(self) -> bool:
        return self.max_uses_per_customer is not None or self.budget_per_customer_minor is not None


@dataclass(frozen=True)
class Usage:
    """What redemptions not released have consumed: uses and discount given."""

    uses: int = 0
    spent_minor: int = 0


@dataclass(frozen=True)
class Allowance:
    """What a promotion may still give to one quote, given its limits and usage.

    ``None`` for ``budget_left_minor`` means no budget applies; ``reason`` says
    why it may give nothing (USED_UP, NEEDS_CUSTOMER) and is empty otherwise.
    """

    reason: str = ""
    budget_left_minor: int | None = None

    @property
    def usable(self) -> bool:
        return not self.reason


def allowance(
    limits: PromotionLimits, usage: Usage, customer_usage: Usage | None, has_customer: bool
) -> Allowance:
    """The rule that decides, at quote time and again at redemption, whether one more
    use of a promotion fits its limits: a use needs one free use and budget left,
    globally and for the customer (per-customer limits need a known customer)."""
    if limits.per_customer and not has_customer:
        return Allowance("NEEDS_CUSTOMER")
    lefts: list[int] = []
    checks = [(limits.max_uses, limits.budget_minor, usage)]
    if limits.per_customer:
        checks.append(
            (
                limits.max_uses_per_customer,
                limits.budget_per_customer_minor,
                customer_usage or Usage(),
            )
        )
    for max_uses, budget, used in checks:
        if max_uses is not None and used.uses >= max_uses:
            return Allowance("USED_UP")
        if budget is not None:
            if used.spent_minor >= budget:
                return Allowance("USED_UP")
            lefts.append(budget - used.spent_minor)
    return Allowance("", min(lefts) if lefts else None)


def fits(limits: PromotionLimits, after: Usage, customer_after: Usage | None) -> bool:
    """Whether usage that now includes one more redemption stays within the limits
    (what a redemption checks, under the promotion's row lock)."""
    checks = [(limits.max_uses, limits.budget_minor, after)]
    if customer_after is not None:
        checks.append(
            (limits.max_uses_per_customer, limits.budget_per_customer_minor, customer_after)
        )
    return all(
        (max_uses is None or used.uses <= max_uses)
        and (budget is None or used.spent_minor <= budget)
        for max_uses, budget, used in checks
    )


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
    requires_code: bool = False
    limits: PromotionLimits = PromotionLimits()


@dataclass(frozen=True)
class Promotion:
    """A recorded promotion at one version: every change makes a new version."""

    promotion_id: str
    terms: PromotionTerms
    valid_from: datetime
    created_at: datetime
    status: PromotionStatus = PromotionStatus.ACTIVE
    version: int = 1
    updated_at: datetime | None = None
    usage: Usage = Usage()

    def state_at(self, moment: datetime) -> PromotionState:
        """ENDED once ended or over, PAUSED while paused, SCHEDULED before it starts."""
        until = self.terms.valid_until
        if self.status is PromotionStatus.ENDED or (until is not None and until <= moment):
            return PromotionState.ENDED
        if self.status is PromotionStatus.PAUSED:
            return PromotionState.PAUSED
        if moment < self.valid_from:
            return PromotionState.SCHEDULED
        return PromotionState.ACTIVE

    def applies_in(self, currency_code: str) -> bool:
        return self.terms.currency_code in ("", currency_code)

    def eligible(self, sku: str) -> bool:
        return self.terms.target is PromotionTarget.CART or sku in self.terms.skus

    def minimums_met(self, quantity: int, subtotal_minor: int) -> bool:
        minimum_subtotal = self.terms.minimum_subtotal_minor or 0
        return quantity >= self.terms.minimum_quantity and subtotal_minor >= minimum_subtotal

    def amount_off(
        self, amount_minor: int, quantity: int, mode: RoundingMode = RoundingMode.HALF_EVEN
    ) -> int:
        """What this promotion takes off ``amount_minor`` (for ``quantity`` units).

        A percentage is rounded by the currency's mode to a minor unit; a
        fixed amount is per unit on SKU promotions and once on cart
        promotions. Never more than ``amount_minor``, so no total goes
        negative.
        """
        terms = self.terms
        if terms.basis_points_off is not None:
            off = percentage_of(amount_minor, terms.basis_points_off, mode)
        elif terms.target is PromotionTarget.SKUS:
            off = (terms.amount_off_minor or 0) * quantity
        else:
            off = terms.amount_off_minor or 0
        return min(off, amount_minor)

    @property
    def precedence(self) -> tuple[datetime, str]:
        """Breaks ties between promotions that take off the same: the older one wins."""
        return (self.created_at, self.promotion_id)


def for_cart(
    promotions: Iterable[Promotion], currency_code: str, skus: Iterable[str], moment: datetime
) -> list[Promotion]:
    """The promotions that may apply to a cart of ``skus`` at ``moment``: active (not
    paused or ended) and in effect, in the cart's currency or in every currency; cart
    promotions, and SKU promotions of the cart's SKUs with their ``skus`` cut down to
    the cart's. Oldest first."""
    in_cart = frozenset(skus)
    found = []
    for promotion in promotions:
        if promotion.state_at(moment) is not PromotionState.ACTIVE:
            continue
        if not promotion.applies_in(currency_code):
            continue
        if promotion.terms.target is PromotionTarget.SKUS:
            cut = promotion.terms.skus & in_cart
            if not cut:
                continue
            promotion = replace(promotion, terms=replace(promotion.terms, skus=cut))
        found.append(promotion)
    return sorted(found, key=lambda p: recording_order(p.promotion_id))


def change_status(promotion: Promotion, change: LifecycleChange, now: datetime) -> Promotion | None:
    """The promotion after ``change``, or None when it is already so (nothing to record).

    Pausing and resuming an ended promotion are refused: ending is for good.
    """
    status = promotion.status
    if status is PromotionStatus.ENDED or promotion.state_at(now) is PromotionState.ENDED:
        if change is LifecycleChange.END:
            return None
        raise FailedPrecondition(
            f"promotion {promotion.promotion_id} has ended; it cannot be paused or resumed",
            reason="PROMOTION_ENDED",
            domain=DOMAIN,
            precondition_violations=[
                PreconditionViolation(
                    "PROMOTION_ENDED", f"promotions/{promotion.promotion_id}", "ended for good"
                )
            ],
        )
    target = {
        LifecycleChange.PAUSE: PromotionStatus.PAUSED,
        LifecycleChange.RESUME: PromotionStatus.ACTIVE,
        LifecycleChange.END: PromotionStatus.ENDED,
    }[change]
    if target is status:
        return None
    terms = promotion.terms
    if change is LifecycleChange.END and (terms.valid_until is None or terms.valid_until > now):
        terms = replace(terms, valid_until=max(now, promotion.valid_from))
    return replace(
        promotion, terms=terms, status=target, version=promotion.version + 1, updated_at=now
    )


def updated(
    promotion: Promotion, terms: PromotionTerms, expected_version: int, now: datetime
) -> Promotion:
    """The promotion with new ``terms`` at its next version, after the rules of an update:
    the version is the one expected (when given), an ended promotion stays ended,
    currency and target stay, valid_from changes only before the start."""
    pid = f"promotions/{promotion.promotion_id}"

    def refuse(reason: str, message: str) -> FailedPrecondition:
        return FailedPrecondition(
            message,
            reason=reason,
            domain=DOMAIN,
            precondition_violations=[PreconditionViolation(reason, pid, message)],
        )

    if expected_version and expected_version != promotion.version:
        raise refuse(
            "VERSION_MISMATCH",
            f"promotion {promotion.promotion_id} is at version {promotion.version}, "
            f"not {expected_version}",
        )
    if promotion.state_at(now) is PromotionState.ENDED:
        raise refuse("PROMOTION_ENDED", f"promotion {promotion.promotion_id} has ended")
    problems = new_problems()
    old = promotion.terms
    if terms.currency_code != old.currency_code:
        problems.add("promotion.currency_code", "cannot change", "IMMUTABLE")
    if terms.target is not old.target:
        problems.add("promotion.target", "cannot change", "IMMUTABLE")
    if promotion.valid_from <= now:  # started: the start is history
        if terms.valid_from is not None and terms.valid_from != promotion.valid_from:
            problems.add("promotion.valid_from", "cannot change once started", "STARTED")
        validate_terms(problems, replace(terms, valid_from=None), now)
        valid_from = promotion.valid_from
    else:
        start = terms.valid_from or promotion.valid_from
        valid_from = validate_terms(problems, replace(terms, valid_from=start), now)
    raise_if_any(problems)
    return replace(
        promotion,
        terms=replace(terms, valid_from=valid_from),
        valid_from=valid_from,
        version=promotion.version + 1,
        updated_at=now,
    )


def validate_terms(problems: FieldErrors, terms: PromotionTerms, now: datetime) -> datetime:
    """Add every problem with ``terms`` to ``problems``; return the valid_from to record."""
    field = "promotion"
    _validate_limits(problems, terms, field)
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


def _validate_limits(problems: FieldErrors, terms: PromotionTerms, field: str) -> None:
    limits = terms.limits
    for name, value, bound in (
        ("max_uses", limits.max_uses, MAX_QUANTITY),
        ("max_uses_per_customer", limits.max_uses_per_customer, MAX_QUANTITY),
        ("budget", limits.budget_minor, MAX_AMOUNT_MINOR),
        ("budget_per_customer", limits.budget_per_customer_minor, MAX_AMOUNT_MINOR),
    ):
        if value is not None and not 0 < value <= bound:
            problems.add(f"{field}.limits.{name}", f"must be 1-{bound}", "OUT_OF_RANGE")
    money_limits = limits.budget_minor is not None or limits.budget_per_customer_minor is not None
    if money_limits and not terms.currency_code:
        problems.add(f"{field}.currency_code", "is required with a budget", "REQUIRED")


def pending_promotion(
    index: int, terms: PromotionTerms, now: datetime, problems: FieldErrors
) -> Promotion:
    """A promotion a dry run evaluates as if created now, checked as CreatePromotion
    checks it (problems under ``pending_promotions[index]``)."""
    own = FieldErrors(domain=problems.domain)
    valid_from = validate_terms(own, terms, now)
    for violation in own.violations:
        field = violation.field.removeprefix("promotion")
        problems.add(f"pending_promotions[{index}]{field}", violation.description, violation.reason)
    return Promotion(f"pending-{index}", replace(terms, valid_from=valid_from), valid_from, now)
