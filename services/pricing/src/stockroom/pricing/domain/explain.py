"""Why a price, a tier and a discount: explanations built from the same rules that decide.

Nothing here decides anything: ``explain_price`` asks ``price_choice.decide`` and
labels every candidate (price version) with what the precedence did to it;
``explain_promotions`` compares what the combination rule of ``discounts`` gave
with what each promotion could have given. So an explanation can never disagree
with the numbers it explains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from stockroom.pricing.domain.money import minor_unit_exponent, to_decimal
from stockroom.pricing.domain.offers import qualifies
from stockroom.pricing.domain.price_choice import Decision, ListView, charge, decide
from stockroom.pricing.domain.price_lists import ListKind, ListStatus, PriceList
from stockroom.pricing.domain.prices import (
    PriceListScope,
    PriceVersion,
    recording_order,
    scope_name,
)
from stockroom.pricing.domain.promotions import Allowance, Promotion, PromotionTarget
from stockroom.pricing.domain.quotes import PricedCart, PricedLine
from stockroom.pricing.domain.tiers import TiersMode


class Verdict(Enum):
    CHOSEN = "CHOSEN"
    SUPERSEDED = "SUPERSEDED"
    LESS_SPECIFIC = "LESS_SPECIFIC"
    NOT_IN_EFFECT = "NOT_IN_EFFECT"
    OTHER_SCOPE = "OTHER_SCOPE"
    LIST_NOT_ACTIVE = "LIST_NOT_ACTIVE"
    NOT_LOWEST = "NOT_LOWEST"


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
    price_list: PriceList | None = None


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


def explain_price(
    versions: Sequence[PriceVersion],
    view: ListView,
    scope: PriceListScope,
    moment: datetime,
    quantity: int = 1,
) -> PriceExplanation:
    """Every candidate of a SKU in the scope's currency (``price_choice.candidates``),
    labelled by what the precedence (``price_choice.decide``) did to it."""
    decision = decide(versions, view, scope, moment, quantity)
    chosen, regular = decision.chosen, decision.regular
    overrides = {s: o for s, o in decision.overrides}
    labelled = []
    for version in versions:
        price_list = view.lists.get(version.list_id)
        verdict, reason = _verdict(version, price_list, decision, overrides, view, moment)
        labelled.append(Candidate(version, verdict, reason))
    tried = tuple(_tried(s, view, decision, moment) for s, _ in decision.overrides)
    taken = decision.price_list
    if chosen is None or taken is None:
        fallback = "no list has a price in effect"
    elif decision.sale_applied:
        beaten = (
            "no regular price"
            if regular is None
            else (
                f"below the regular {_amount(regular, quantity)} of "
                f"{view.lists[regular.list_id].label()}"
            )
        )
        fallback = (
            f"took sale list {taken.label()}: {_amount(chosen, quantity)} for {quantity} "
            f"unit(s), {beaten}"
        )
    elif chosen.scope == scope:
        fallback = f"took {taken.label()}, the list of the cart's own scope"
    else:
        fallbacks = [s for s, _ in decision.overrides]
        skipped = [scope_name(s) for s in fallbacks[: fallbacks.index(chosen.scope)]]
        fallback = f"no price in {', '.join(skipped)}; took {taken.label()}"
    return PriceExplanation(tuple(labelled), tried, fallback, taken)


def _verdict(
    version: PriceVersion,
    price_list: PriceList | None,
    decision: Decision,
    overrides: Mapping[PriceListScope, PriceList | None],
    view: ListView,
    moment: datetime,
) -> tuple[Verdict, str]:
    where = price_list.label() if price_list else scope_name(version.scope)
    if version.scope not in overrides or price_list is None:
        return Verdict.OTHER_SCOPE, f"its list {where} is not one this cart falls back to"
    if not view.in_force(price_list, moment):
        return Verdict.LIST_NOT_ACTIVE, f"its list {where} {_not_in_force(price_list, moment)}"
    replacing = overrides[version.scope]
    if price_list.kind is ListKind.OVERRIDE and replacing is not price_list:
        assert replacing is not None  # price_list is an override in force of this scope
        return Verdict.LIST_NOT_ACTIVE, f"the draft {replacing.label()} replaces its list {where}"
    if not version.in_effect_at(moment):
        return Verdict.NOT_IN_EFFECT, "its validity window does not contain the moment"
    winner = decision.winners.get(version.list_id)
    if winner != version:
        assert winner is not None  # the version is in effect in its list
        return (
            Verdict.SUPERSEDED,
            f"version {winner.price_id} of the same list starts later or was recorded later",
        )
    quantity, chosen = decision.quantity, decision.chosen
    if version == chosen:
        if decision.sale_applied:
            return Verdict.CHOSEN, f"the lowest sale price, in {where}"
        return Verdict.CHOSEN, f"in effect in {where}, the most specific list with a price"
    if version == decision.regular and chosen is not None:
        return (
            Verdict.NOT_LOWEST,
            f"the regular price, but the sale price {_amount(chosen, quantity)} "
            f"in {view.lists[chosen.list_id].label()} is lower",
        )
    if price_list.kind is ListKind.SALE:
        lower = "" if chosen is None else f" {_amount(chosen, quantity)}"
        return (
            Verdict.NOT_LOWEST,
            f"a sale price of {_amount(version, quantity)}, not below the price taken{lower}",
        )
    return Verdict.LESS_SPECIFIC, f"{where} is less specific than the list chosen"


def _not_in_force(price_list: PriceList, moment: datetime) -> str:
    if price_list.status is ListStatus.DRAFT:
        return "is a draft"
    if price_list.activated_at is None or moment < price_list.activated_at:
        return "was not active yet at the moment"
    return "was archived before the moment"


def _tried(scope: PriceListScope, view: ListView, decision: Decision, moment: datetime) -> str:
    lists = sorted(
        (p for p in view.lists.values() if p.scope == scope and view.in_force(p, moment)),
        key=lambda p: recording_order(p.list_id),
    )
    if not lists:
        return f"{scope_name(scope)}: no active list"
    found = [
        f"{p.label()}: {'a price in effect' if p.list_id in decision.winners else 'none'}"
        for p in lists
    ]
    return f"{scope_name(scope)}: " + "; ".join(found)


def _amount(version: PriceVersion, quantity: int) -> str:
    """What the version charges for the quantity, for people: "9.00 USD"."""
    currency_code = version.scope.currency_code
    exponent = minor_unit_exponent(currency_code) or 0
    return f"{to_decimal(charge(version, quantity), exponent)} {currency_code}"


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
