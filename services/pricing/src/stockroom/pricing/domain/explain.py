"""Why a price, a tier and a discount: explanations built from the same rules that decide.

Nothing here decides anything: ``explain_price`` asks ``prices.in_effect_at`` (per
list and for the scope) and labels every candidate with what the rule did to it;
``explain_promotions`` compares what the combination rule of ``discounts`` gave
with what each promotion could have given. So an explanation can never disagree
with the numbers it explains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from stockroom.pricing.domain.offers import qualifies
from stockroom.pricing.domain.prices import PriceListScope, PriceVersion, in_effect_at
from stockroom.pricing.domain.promotions import Allowance, Promotion, PromotionTarget
from stockroom.pricing.domain.quotes import PricedCart, PricedLine
from stockroom.pricing.domain.tiers import TiersMode


class Verdict(Enum):
    CHOSEN = "CHOSEN"
    SUPERSEDED = "SUPERSEDED"
    LESS_SPECIFIC = "LESS_SPECIFIC"
    NOT_IN_EFFECT = "NOT_IN_EFFECT"
    OTHER_SCOPE = "OTHER_SCOPE"


class Outcome(Enum):
    APPLIED = "APPLIED"
    LOST = "LOST"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    NEEDS_CODE = "NEEDS_CODE"
    LIMITED = "LIMITED"


@dataclass(frozen=True)
class Candidate:
    version: PriceVersion
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class PriceExplanation:
    candidates: tuple[Candidate, ...]
    lists_tried: tuple[str, ...]
    fallback: str


@dataclass(frozen=True)
class Considered:
    promotion_id: str
    display_name: str
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class LineExplanation:
    price: PriceExplanation
    tiers: str
    promotions: tuple[Considered, ...]


def list_name(scope: PriceListScope) -> str:
    """currency/channel/group, and /country when the list has one ("*": every)."""
    parts = [scope.currency_code, scope.channel or "*", scope.customer_group or "*"]
    return "/".join(parts + ([scope.country] if scope.country else []))


def explain_price(
    versions: Sequence[PriceVersion], scope: PriceListScope, moment: datetime
) -> PriceExplanation:
    """Every version of a SKU in the scope's currency, labelled by the in-effect rule."""
    lists = scope.fallbacks()
    chosen = in_effect_at(versions, scope, moment)
    winners = {
        candidate: in_effect_at([v for v in versions if v.scope == candidate], candidate, moment)
        for candidate in lists
    }
    tried = tuple(
        f"{list_name(candidate)}: {'a price in effect' if winners[candidate] else 'none'}"
        for candidate in lists
    )
    labelled = []
    for version in versions:
        if version.scope not in winners:
            verdict, reason = (
                Verdict.OTHER_SCOPE,
                f"its list {list_name(version.scope)} is not one this cart falls back to",
            )
        elif chosen is not None and version.price_id == chosen.price_id:
            verdict, reason = (
                Verdict.CHOSEN,
                f"in effect in {list_name(version.scope)}, the most specific list with a price",
            )
        elif winners[version.scope] is None or not _contains(version, moment):
            verdict, reason = (
                Verdict.NOT_IN_EFFECT,
                "its validity window does not contain the moment",
            )
        elif winners[version.scope] == version:
            verdict, reason = (
                Verdict.LESS_SPECIFIC,
                f"{list_name(version.scope)} is less specific than the list chosen",
            )
        else:
            later = winners[version.scope]
            assert later is not None
            verdict, reason = (
                Verdict.SUPERSEDED,
                f"version {later.price_id} of the same list starts later or was recorded later",
            )
        labelled.append(Candidate(version, verdict, reason))
    if chosen is None:
        fallback = "no list has a price in effect"
    elif chosen.scope == lists[0]:
        fallback = f"took {list_name(chosen.scope)}, the cart's own list"
    else:
        skipped = [list_name(c) for c in lists[: lists.index(chosen.scope)]]
        fallback = f"no price in {', '.join(skipped)}; took {list_name(chosen.scope)}"
    return PriceExplanation(tuple(labelled), tried, fallback)


def _contains(version: PriceVersion, moment: datetime) -> bool:
    return version.valid_from <= moment and (
        version.valid_until is None or moment < version.valid_until
    )


def explain_tiers(line: PricedLine) -> str:
    if line.tiers_mode is None:
        return f"per-unit price: {line.quantity} units"
    parts = [
        f"tier {c.tier_index} (up to {c.tier.up_to or 'any'}): {c.quantity} units"
        for c in line.charges
    ]
    mode = (
        "volume: one tier prices every unit" if line.tiers_mode is TiersMode.VOLUME else "graduated"
    )
    return f"{mode}; " + "; ".join(parts)


def explain_promotions(
    line: PricedLine,
    considered: Sequence[Promotion],
    offered: Sequence[Promotion],
    allowances: Mapping[str, Allowance],
    priced: PricedCart,
) -> tuple[Considered, ...]:
    """What each promotion the cart could use did for ``line``."""
    applied_here = {d.promotion_id: d for d in line.discounts}
    offered_ids = {p.promotion_id for p in offered}
    cart_winner = priced.cart_discounts[0].promotion_id if priced.cart_discounts else None
    found = []
    for promotion in considered:
        pid, terms = promotion.promotion_id, promotion.terms
        allowed = allowances.get(pid)
        if pid in applied_here:
            outcome, reason = Outcome.APPLIED, applied_here[pid].reason
        elif terms.target is PromotionTarget.SKUS and line.sku not in terms.skus:
            outcome, reason = Outcome.NOT_ELIGIBLE, f"not a promotion of {line.sku}"
        elif allowed is not None and not allowed.usable:
            outcome, reason = (
                Outcome.LIMITED,
                {
                    "USED_UP": "its usage limit or budget is used up",
                    "NEEDS_CUSTOMER": "it is limited per customer and the quote has no customer_id",
                }.get(allowed.reason, allowed.reason),
            )
        elif pid not in offered_ids:
            outcome, reason = Outcome.NEEDS_CODE, "it needs a discount code the quote did not give"
        elif terms.target is PromotionTarget.CART and cart_winner == pid:
            outcome, reason = Outcome.APPLIED, "the cart discount; this line's share was nothing"
        elif qualifies(promotion, priced):
            winner = next(iter(applied_here.values())).display_name if applied_here else "nothing"
            if terms.target is PromotionTarget.CART and priced.cart_discounts:
                winner = priced.cart_discounts[0].display_name
            outcome, reason = Outcome.LOST, f"qualified, but {winner} took more off"
        else:
            outcome, reason = Outcome.NOT_ELIGIBLE, "the cart does not meet its minimums"
        found.append(Considered(pid, terms.display_name, outcome, reason))
    return tuple(found)
