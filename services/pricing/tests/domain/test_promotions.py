"""Promotions and how they combine: the best SKU promotion per line, then the best
cart promotion on what is left; nothing goes negative."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stockroom.common.errors import FieldErrors
from stockroom.pricing.domain.discounts import LineAmount, cart_discount, line_discounts
from stockroom.pricing.domain.promotions import (
    Promotion,
    PromotionTarget,
    PromotionTerms,
    validate_terms,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SKUS, CART = PromotionTarget.SKUS, PromotionTarget.CART


def promotion(
    promotion_id: str,
    target: PromotionTarget,
    *,
    skus: tuple[str, ...] = (),
    basis_points_off: int | None = None,
    amount_off_minor: int | None = None,
    minimum_quantity: int = 0,
    minimum_subtotal_minor: int | None = None,
    created_at: datetime = NOW,
) -> Promotion:
    terms = PromotionTerms(
        display_name=f"promotion {promotion_id}",
        currency_code="USD",
        target=target,
        skus=frozenset(skus),
        basis_points_off=basis_points_off,
        amount_off_minor=amount_off_minor,
        minimum_quantity=minimum_quantity,
        minimum_subtotal_minor=minimum_subtotal_minor,
    )
    return Promotion(promotion_id, terms, NOW, created_at)


MUGS = LineAmount("MUG", 4, 5000)
TEES = LineAmount("TEE", 5, 9995)


def test_a_percentage_off_a_sku_discounts_its_line_only() -> None:
    ten_off_mugs = promotion("1", SKUS, skus=("MUG",), basis_points_off=1000)

    mug, tee = line_discounts([MUGS, TEES], [ten_off_mugs], "USD", 2)

    assert mug is not None

    assert mug.amount_minor == 500
    assert tee is None


def test_a_fixed_amount_off_a_sku_is_taken_off_each_unit() -> None:
    two_off_each_tee = promotion("1", SKUS, skus=("TEE",), amount_off_minor=200)

    _, tee = line_discounts([MUGS, TEES], [two_off_each_tee], "USD", 2)

    assert tee is not None

    assert tee.amount_minor == 5 * 200
    assert tee.reason == "2.00 USD off each unit of TEE"


def test_a_fixed_amount_never_takes_more_than_the_line() -> None:
    huge = promotion("1", SKUS, skus=("MUG",), amount_off_minor=10_000)

    (mug,) = line_discounts([MUGS], [huge], "USD", 2)

    assert mug is not None

    assert mug.amount_minor == MUGS.total_minor


def test_the_minimum_quantity_counts_every_unit_of_the_promotions_skus() -> None:
    mix_and_match = promotion(
        "1", SKUS, skus=("MUG", "TEE"), basis_points_off=1000, minimum_quantity=9
    )
    needs_ten = promotion(
        "2", SKUS, skus=("MUG", "TEE"), basis_points_off=5000, minimum_quantity=10
    )

    mug, tee = line_discounts([MUGS, TEES], [mix_and_match, needs_ten], "USD", 2)

    assert mug is not None
    assert tee is not None
    assert (mug.promotion_id, mug.amount_minor) == ("1", 500)
    assert (tee.promotion_id, tee.amount_minor) == ("1", 1000)  # 999.5 -> 1000, half to even
    assert "9 units reached the minimum of 9" in mug.reason


def test_the_minimum_subtotal_counts_the_eligible_lines_before_discounts() -> None:
    over_fifty = promotion(
        "1", SKUS, skus=("MUG",), basis_points_off=1000, minimum_subtotal_minor=5000
    )
    over_fifty_one = promotion(
        "2", SKUS, skus=("MUG",), basis_points_off=2000, minimum_subtotal_minor=5001
    )

    (mug,) = line_discounts([MUGS], [over_fifty, over_fifty_one], "USD", 2)

    assert mug is not None

    assert mug.promotion_id == "1"


def test_a_line_gets_only_the_sku_promotion_that_takes_the_most_off() -> None:
    ten_percent = promotion("1", SKUS, skus=("MUG",), basis_points_off=1000)  # 5.00
    two_each = promotion("2", SKUS, skus=("MUG",), amount_off_minor=200)  # 8.00

    (mug,) = line_discounts([MUGS], [ten_percent, two_each], "USD", 2)

    assert mug is not None

    assert (mug.promotion_id, mug.amount_minor) == ("2", 800)


def test_between_equal_discounts_the_older_promotion_wins() -> None:
    newer = promotion("1", SKUS, skus=("MUG",), basis_points_off=1000, created_at=NOW)
    older = promotion(
        "2", SKUS, skus=("MUG",), basis_points_off=1000, created_at=NOW - timedelta(days=1)
    )

    (mug,) = line_discounts([MUGS], [newer, older], "USD", 2)

    assert mug is not None

    assert mug.promotion_id == "2"


def test_the_cart_gets_the_cart_promotion_that_takes_the_most_off() -> None:
    five_off = promotion("1", CART, amount_off_minor=500)
    ten_percent = promotion("2", CART, basis_points_off=1000)
    sku_only = promotion("3", SKUS, skus=("MUG",), basis_points_off=9000)

    applied = cart_discount(9, 14_995, [five_off, ten_percent, sku_only], "USD", 2)

    assert applied is not None
    assert (applied.promotion_id, applied.amount_minor) == ("2", 1500)  # 1499.5 -> 1500 (even)


def test_a_cart_minimum_subtotal_is_checked_after_line_discounts() -> None:
    over_hundred = promotion("1", CART, amount_off_minor=1000, minimum_subtotal_minor=10_000)

    assert cart_discount(9, 9_999, [over_hundred], "USD", 2) is None
    applied = cart_discount(9, 10_000, [over_hundred], "USD", 2)
    assert applied is not None
    assert applied.reason == (
        "10.00 USD off the cart: 100.00 USD reached the minimum of 100.00 USD"
    )


def test_a_fixed_cart_discount_never_takes_more_than_the_cart() -> None:
    applied = cart_discount(1, 300, [promotion("1", CART, amount_off_minor=1000)], "USD", 2)

    assert applied is not None

    assert applied.amount_minor == 300


def test_percentages_print_without_trailing_zeros() -> None:
    (mug,) = line_discounts(
        [MUGS], [promotion("1", SKUS, skus=("MUG",), basis_points_off=1250)], "USD", 2
    )

    assert mug is not None

    assert mug.reason == "12.5 % off of MUG"


def valid_terms(**changes: object) -> PromotionTerms:
    fields: dict[str, object] = {
        "display_name": "Spring",
        "currency_code": "USD",
        "target": SKUS,
        "skus": frozenset({"MUG"}),
        "basis_points_off": 1000,
        "amount_off_minor": None,
    }
    fields.update(changes)
    return PromotionTerms(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"display_name": ""}, "promotion.display_name", "REQUIRED"),
        ({"skus": frozenset()}, "promotion.skus", "REQUIRED"),
        ({"target": CART}, "promotion.skus", "NOT_ALLOWED"),
        ({"basis_points_off": None}, "promotion.discount", "DISCOUNT_REQUIRED"),
        ({"amount_off_minor": 100}, "promotion.discount", "DISCOUNT_REQUIRED"),
        ({"basis_points_off": 10_001}, "promotion.basis_points_off", "OUT_OF_RANGE"),
        ({"basis_points_off": 0}, "promotion.basis_points_off", "OUT_OF_RANGE"),
        (
            {"basis_points_off": None, "amount_off_minor": 100, "currency_code": ""},
            "promotion.currency_code",
            "REQUIRED",
        ),
        ({"currency_code": "XAU"}, "promotion.currency_code", "UNKNOWN_CURRENCY"),
        ({"minimum_quantity": -1}, "promotion.minimum_quantity", "OUT_OF_RANGE"),
        ({"valid_from": NOW - timedelta(hours=1)}, "promotion.valid_from", "IN_THE_PAST"),
        ({"valid_until": NOW}, "promotion.valid_until", "NOT_AFTER_VALID_FROM"),
    ],
)
def test_bad_promotion_terms_are_reported_by_field(
    changes: dict[str, object], field: str, reason: str
) -> None:
    problems = FieldErrors()

    validate_terms(problems, valid_terms(**changes), NOW)

    assert (field, reason) in [(v.field, v.reason) for v in problems.violations]


def test_a_percentage_promotion_may_apply_in_every_currency() -> None:
    problems = FieldErrors()

    valid_from = validate_terms(problems, valid_terms(currency_code=""), NOW)

    assert problems.violations == []
    assert valid_from == NOW
