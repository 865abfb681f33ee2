"""Promotion lifecycle (versions, states), usage limits and budgets, discount codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockroom.common.errors import FailedPrecondition, InvalidArgument
from stockroom.pricing.domain.codes import (
    ALPHABET,
    GENERATED_LENGTH,
    CodeStatus,
    DiscountCode,
    generate,
)
from stockroom.pricing.domain.discounts import LineAmount, Offers, line_discounts
from stockroom.pricing.domain.offers import answer_codes, select_offers
from stockroom.pricing.domain.prices import PriceListScope, PriceVersion
from stockroom.pricing.domain.promotions import (
    LifecycleChange,
    Promotion,
    PromotionLimits,
    PromotionState,
    PromotionStatus,
    PromotionTarget,
    PromotionTerms,
    Usage,
    allowance,
    change_status,
    fits,
    updated,
)
from stockroom.pricing.domain.quotes import CartLine, price_cart
from stockroom.pricing.domain.tiers import PriceSchedule

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
NO_LIMITS = PromotionLimits()
UNUSED = Usage()


def promotion(
    pid: str = "1",
    *,
    target: PromotionTarget = PromotionTarget.SKUS,
    skus: tuple[str, ...] = ("MUG",),
    basis_points_off: int | None = 1000,
    limits: PromotionLimits = NO_LIMITS,
    requires_code: bool = False,
    valid_from: datetime = NOW,
    usage: Usage = UNUSED,
    minimum_quantity: int = 0,
) -> Promotion:
    terms = PromotionTerms(
        display_name=f"promotion {pid}",
        currency_code="USD",
        target=target,
        skus=frozenset(skus),
        basis_points_off=basis_points_off,
        amount_off_minor=None if basis_points_off else 100,
        minimum_quantity=minimum_quantity,
        requires_code=requires_code,
        limits=limits,
    )
    return Promotion(pid, terms, valid_from, NOW, usage=usage)


# --- lifecycle --------------------------------------------------------------------------


def test_pause_resume_end_each_make_a_new_version() -> None:
    running = promotion()

    paused = change_status(running, LifecycleChange.PAUSE, NOW)
    assert paused is not None
    resumed = change_status(paused, LifecycleChange.RESUME, NOW)
    assert resumed is not None
    ended = change_status(resumed, LifecycleChange.END, NOW + timedelta(hours=1))
    assert ended is not None

    assert [p.version for p in (running, paused, resumed, ended)] == [1, 2, 3, 4]
    assert paused.state_at(NOW) is PromotionState.PAUSED
    assert resumed.state_at(NOW) is PromotionState.ACTIVE
    assert ended.state_at(NOW + timedelta(hours=1)) is PromotionState.ENDED
    assert ended.terms.valid_until == NOW + timedelta(hours=1)


def test_a_change_to_the_state_it_is_in_records_nothing() -> None:
    assert change_status(promotion(), LifecycleChange.RESUME, NOW) is None
    ended = change_status(promotion(), LifecycleChange.END, NOW)
    assert ended is not None
    assert change_status(ended, LifecycleChange.END, NOW) is None


@pytest.mark.parametrize("change", [LifecycleChange.PAUSE, LifecycleChange.RESUME])
def test_an_ended_promotion_stays_ended(change: LifecycleChange) -> None:
    ended = change_status(promotion(), LifecycleChange.END, NOW)
    assert ended is not None

    with pytest.raises(FailedPrecondition) as raised:
        change_status(ended, change, NOW)
    assert raised.value.reason == "PROMOTION_ENDED"


def test_states_follow_the_window_and_the_status() -> None:
    later = promotion(valid_from=NOW + timedelta(days=1))
    over = replace(
        promotion(), terms=replace(promotion().terms, valid_until=NOW + timedelta(hours=1))
    )

    assert later.state_at(NOW) is PromotionState.SCHEDULED
    assert over.state_at(NOW + timedelta(hours=1)) is PromotionState.ENDED
    assert replace(later, status=PromotionStatus.PAUSED).state_at(NOW) is PromotionState.PAUSED


def test_an_update_is_a_new_version_and_checks_the_expected_one() -> None:
    current = promotion()
    new_terms = replace(current.terms, basis_points_off=2000, valid_from=None)

    changed = updated(current, new_terms, 1, NOW + timedelta(minutes=1))

    assert changed.version == 2
    assert changed.terms.basis_points_off == 2000
    assert changed.valid_from == NOW
    with pytest.raises(FailedPrecondition) as raised:
        updated(changed, new_terms, 1, NOW)
    assert raised.value.reason == "VERSION_MISMATCH"


def test_an_update_cannot_change_currency_or_target_or_a_start_in_the_past() -> None:
    current = promotion()
    terms = replace(
        current.terms,
        currency_code="EUR",
        target=PromotionTarget.CART,
        skus=frozenset(),
        valid_from=NOW + timedelta(days=1),
    )

    with pytest.raises(InvalidArgument) as raised:
        updated(current, terms, 0, NOW + timedelta(minutes=1))

    fields = {v.field: v.reason for v in raised.value.field_violations}
    assert fields["promotion.currency_code"] == "IMMUTABLE"
    assert fields["promotion.target"] == "IMMUTABLE"
    assert fields["promotion.valid_from"] == "STARTED"


# --- limits and budgets -----------------------------------------------------------------

usages = st.builds(Usage, st.integers(0, 20), st.integers(0, 5000))
optional_limits = st.one_of(st.none(), st.integers(1, 20))
optional_budgets = st.one_of(st.none(), st.integers(1, 5000))
limit_sets = st.builds(
    PromotionLimits, optional_limits, optional_limits, optional_budgets, optional_budgets
)


@given(limit_sets, usages, usages, st.integers(0, 5000))
def test_a_use_the_allowance_grants_fits_the_limits_once_consumed(
    limits: PromotionLimits, used: Usage, customer_used: Usage, amount: int
) -> None:
    """What Quote offers (allowance) is what RedeemQuote accepts (fits): whenever one more
    use is allowed and the discount is within the budget left, consuming it fits."""
    granted = allowance(limits, used, customer_used, has_customer=True)
    if not granted.usable:
        return
    if granted.budget_left_minor is not None:
        amount = min(amount, granted.budget_left_minor)
    after = Usage(used.uses + 1, used.spent_minor + amount)
    customer_after = Usage(customer_used.uses + 1, customer_used.spent_minor + amount)

    assert fits(limits, after, customer_after)


@given(limit_sets, usages, usages)
def test_consuming_past_a_limit_never_fits(
    limits: PromotionLimits, used: Usage, customer_used: Usage
) -> None:
    if fits(limits, used, customer_used):
        return
    assert not fits(
        limits,
        Usage(used.uses + 1, used.spent_minor + 1),
        Usage(customer_used.uses + 1, customer_used.spent_minor + 1),
    )


def test_per_customer_limits_need_a_customer() -> None:
    limits = PromotionLimits(max_uses_per_customer=1)

    assert allowance(limits, Usage(), None, has_customer=False).reason == "NEEDS_CUSTOMER"
    assert allowance(limits, Usage(), Usage(1, 0), has_customer=True).reason == "USED_UP"
    assert allowance(limits, Usage(), None, has_customer=True).usable


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=6), st.integers(1, 5000))
def test_a_budget_caps_a_sku_promotion_over_all_its_lines(totals: list[int], left: int) -> None:
    lines = [LineAmount("MUG", 1, total) for total in totals]
    half_off = promotion(basis_points_off=5000)

    given_off = line_discounts(lines, [half_off], "USD", 2, Offers(budget_left={"1": left}))

    assert sum(d.amount_minor for d in given_off if d) <= left


# --- codes --------------------------------------------------------------------------------


def test_generated_codes_are_distinct_long_and_from_the_alphabet() -> None:
    codes = generate(2000, "SPRING-")

    assert len(set(codes)) == 2000
    assert all(c.startswith("SPRING-") and len(c) == 7 + GENERATED_LENGTH for c in codes)
    assert all(set(c[7:]) <= set(ALPHABET) for c in codes)
    assert not set("01IOL") & set(ALPHABET)


def price(sku: str, unit: int) -> PriceVersion:
    return PriceVersion(
        sku, sku, PriceListScope("USD"), PriceSchedule.per_unit(unit), NOW, None, NOW
    )


def test_each_code_is_answered_and_none_fails_the_quote() -> None:
    coded = promotion("1", requires_code=True, basis_points_off=1000)
    better = promotion("2", skus=("TEE",), basis_points_off=5000)
    losing = promotion("3", skus=("TEE",), requires_code=True, basis_points_off=100)
    big_cart = promotion(
        "4", target=PromotionTarget.CART, skus=(), requires_code=True, minimum_quantity=100
    )
    used_up = promotion("5", requires_code=True, limits=PromotionLimits(max_uses=1), usage=Usage(1))
    paused = replace(promotion("6"), status=PromotionStatus.PAUSED)
    in_cart = [coded, better, losing, big_cart, used_up]
    found = {
        "MUG10": (DiscountCode("MUG10", "1"), coded),
        "TEE1": (DiscountCode("TEE1", "3"), losing),
        "BIG": (DiscountCode("BIG", "4"), big_cart),
        "GONE": (DiscountCode("GONE", "5"), used_up),
        "PAUSED": (DiscountCode("PAUSED", "6"), paused),
        "SPENT": (DiscountCode("SPENT", "1", max_uses=2, uses=2), coded),
    }
    codes = ["MUG10", "TEE1", "BIG", "GONE", "PAUSED", "SPENT", "NOPE"]
    selection = select_offers(in_cart, codes, found, {}, "", NOW)
    lines = [CartLine("MUG", 2), CartLine("TEE", 1)]
    priced = price_cart(
        lines,
        {"MUG": price("MUG", 1000), "TEE": price("TEE", 2000)},
        selection.promotions,
        "USD",
        offers=selection.offers,
    )

    answers = {r.code: r.status for r in answer_codes(codes, selection, priced)}

    assert answers == {
        "MUG10": CodeStatus.APPLIED,
        "TEE1": CodeStatus.NOT_BEST,
        "BIG": CodeStatus.NOT_ELIGIBLE,
        "GONE": CodeStatus.USED_UP,
        "PAUSED": CodeStatus.EXPIRED,
        "SPENT": CodeStatus.USED_UP,
        "NOPE": CodeStatus.UNKNOWN,
    }
    mug_discount = priced.lines[0].discounts[0]
    assert (mug_discount.promotion_id, mug_discount.code) == ("1", "MUG10")
    assert [d.promotion_id for d in priced.lines[1].discounts] == ["2"]


# --- scopes -------------------------------------------------------------------------------


def test_the_one_precedence_is_group_then_country_region_first_then_channel() -> None:
    scope = PriceListScope("USD", "web", "vip", "US-CA")

    names = [(s.customer_group, s.country, s.channel) for s in scope.fallbacks()]

    assert names == [
        ("vip", "US-CA", "web"),
        ("vip", "US-CA", ""),
        ("vip", "US", "web"),
        ("vip", "US", ""),
        ("vip", "", "web"),
        ("vip", "", ""),
        ("", "US-CA", "web"),
        ("", "US-CA", ""),
        ("", "US", "web"),
        ("", "US", ""),
        ("", "", "web"),
        ("", "", ""),
    ]
    assert PriceListScope("USD", "web", "vip").fallbacks() == (
        PriceListScope("USD", "web", "vip"),
        PriceListScope("USD", "", "vip"),
        PriceListScope("USD", "web", ""),
        PriceListScope("USD"),
    )
