"""Which of a cart's promotions may give a discount, and the answer for each code.

Before pricing: a promotion is offered when its limits allow one more use
(``promotions.allowance``) and, if it requires a code, one of the quote's
codes unlocks it (``codes.choose_codes``); its budget left caps what it may
give. After pricing: each code that unlocked a promotion is APPLIED when
that promotion gave a discount, NOT_BEST when the cart qualified but another
promotion took more off, NOT_ELIGIBLE when the cart did not meet its
minimums.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from stockroom.pricing.domain.codes import (
    CodeChoice,
    CodeResult,
    CodeStatus,
    DiscountCode,
    choose_codes,
)
from stockroom.pricing.domain.discounts import Offers
from stockroom.pricing.domain.promotions import (
    Allowance,
    Promotion,
    PromotionTarget,
    Usage,
    allowance,
)
from stockroom.pricing.domain.quotes import PricedCart


@dataclass(frozen=True)
class Selection:
    promotions: tuple[Promotion, ...]
    offers: Offers
    choice: CodeChoice
    allowances: Mapping[str, Allowance]


def select_offers(
    promotions: Sequence[Promotion],
    codes: Sequence[str],
    found: Mapping[str, tuple[DiscountCode, Promotion]],
    customer_usage: Mapping[str, Usage],
    customer_id: str,
    moment: datetime,
) -> Selection:
    """The promotions that may discount the cart, with their budgets and codes."""
    allowances = {
        p.promotion_id: allowance(
            p.terms.limits, p.usage, customer_usage.get(p.promotion_id), bool(customer_id)
        )
        for p in promotions
    }
    in_cart = {p.promotion_id: p for p in promotions}
    states = {p.promotion_id: p.state_at(moment) for _, p in found.values()}
    choice = choose_codes(codes, found, in_cart, allowances, states)
    offered = tuple(
        p
        for p in promotions
        if allowances[p.promotion_id].usable
        and (not p.terms.requires_code or p.promotion_id in choice.unlocked)
    )
    budget_left = {
        pid: left
        for pid, allowed in allowances.items()
        if (left := allowed.budget_left_minor) is not None
    }
    offers = Offers(budget_left=budget_left, codes=choice.unlocked)
    return Selection(offered, offers, choice, allowances)


def answer_codes(
    codes: Sequence[str], selection: Selection, priced: PricedCart
) -> tuple[CodeResult, ...]:
    """One answer per distinct code, in the order given."""
    applied = {d.promotion_id for line in priced.lines for d in line.discounts}
    by_code = {code: pid for pid, code in selection.choice.unlocked.items()}
    offered = {p.promotion_id: p for p in selection.promotions}
    results: list[CodeResult] = []
    for code in dict.fromkeys(codes):
        if code in selection.choice.early:
            results.append(selection.choice.early[code])
            continue
        pid = by_code[code]
        if pid in applied:
            results.append(CodeResult(code, CodeStatus.APPLIED, pid, "applied"))
        elif qualifies(offered[pid], priced):
            results.append(
                CodeResult(code, CodeStatus.NOT_BEST, pid, "another promotion took more off")
            )
        else:
            results.append(
                CodeResult(
                    code, CodeStatus.NOT_ELIGIBLE, pid, "the cart does not meet its minimums"
                )
            )
    return tuple(results)


def qualifies(promotion: Promotion, priced: PricedCart) -> bool:
    """Whether the priced cart meets the promotion's minimums on its eligible lines."""
    if promotion.terms.target is PromotionTarget.SKUS:
        eligible = [line for line in priced.lines if promotion.eligible(line.sku)]
        return bool(eligible) and promotion.minimums_met(
            sum(line.quantity for line in eligible), sum(line.total_minor for line in eligible)
        )
    after_lines = sum(
        line.total_minor
        - sum(d.amount_minor for d in line.discounts if d.target is PromotionTarget.SKUS)
        for line in priced.lines
    )
    return promotion.minimums_met(sum(line.quantity for line in priced.lines), after_lines)
