"""Exact money: ISO 4217 exponents, the one rounding rule, exact allocation."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockroom.common.errors import OutOfRange
from stockroom.pricing.domain.money import (
    MAX_AMOUNT_MINOR,
    allocate,
    check_amount,
    divide_half_even,
    minor_unit_exponent,
    percentage_of,
    to_decimal,
)


@pytest.mark.parametrize(
    ("currency_code", "exponent"),
    [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)],
)
def test_exponents_come_from_the_iso_4217_list(currency_code: str, exponent: int) -> None:
    assert minor_unit_exponent(currency_code) == exponent


@pytest.mark.parametrize("currency_code", ["XAU", "XXX", "XTS", "XDR", "ABC", "usd", "US", ""])
def test_codes_without_a_minor_unit_are_not_currencies_to_price_in(currency_code: str) -> None:
    assert minor_unit_exponent(currency_code) is None


def test_amounts_convert_to_major_units_exactly() -> None:
    assert to_decimal(12345, 2) == Decimal("123.45")
    assert to_decimal(800, 0) == Decimal("800")
    assert to_decimal(1, 3) == Decimal("0.001")


@pytest.mark.parametrize(
    ("numerator", "denominator", "rounded"),
    [(5, 2, 2), (7, 2, 4), (3, 2, 2), (1, 3, 0), (2, 3, 1), (-5, 2, -2), (-7, 2, -4), (10, 5, 2)],
)
def test_ties_round_to_the_even_neighbour(numerator: int, denominator: int, rounded: int) -> None:
    assert divide_half_even(numerator, denominator) == rounded


@given(st.integers(-(10**20), 10**20), st.integers(1, 10**9))
def test_divide_half_even_agrees_with_decimal_half_even(numerator: int, denominator: int) -> None:
    with localcontext() as context:
        context.prec = 80  # enough digits that Decimal's division itself is exact enough
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_EVEN
        )

    assert divide_half_even(numerator, denominator) == int(expected)


@given(st.integers(0, MAX_AMOUNT_MINOR), st.integers(1, 10_000))
def test_a_percentage_is_within_half_a_minor_unit_of_exact(amount: int, basis_points: int) -> None:
    exact = Fraction(amount * basis_points, 10_000)
    off = percentage_of(amount, basis_points)
    assert abs(off - exact) <= Fraction(1, 2)
    assert 0 <= off <= amount


@given(
    st.integers(0, 10**12),
    st.lists(st.integers(0, 10**9), min_size=1, max_size=50).filter(lambda w: sum(w) > 0),
)
def test_allocation_hands_out_every_minor_unit_and_no_more(amount: int, weights: list[int]) -> None:
    shares = allocate(amount, weights)

    assert sum(shares) == amount
    total = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share - Fraction(amount * weight, total)) < 1


@given(
    st.lists(st.integers(0, 10**9), min_size=1, max_size=50).filter(lambda w: sum(w) > 0),
    st.data(),
)
def test_allocating_at_most_the_weights_never_exceeds_a_weight(
    weights: list[int], data: st.DataObject
) -> None:
    amount = data.draw(st.integers(0, sum(weights)))

    shares = allocate(amount, weights)

    assert all(0 <= share <= weight for share, weight in zip(shares, weights, strict=True))


def test_allocation_breaks_ties_towards_earlier_lines() -> None:
    assert allocate(2, [1, 1, 1]) == [1, 1, 0]
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]


def test_nothing_to_allocate_over_no_weight_is_fine() -> None:
    assert allocate(0, [0, 0]) == [0, 0]


def test_an_amount_past_the_limit_is_out_of_range() -> None:
    assert check_amount(MAX_AMOUNT_MINOR, "subtotal") == MAX_AMOUNT_MINOR
    with pytest.raises(OutOfRange) as raised:
        check_amount(MAX_AMOUNT_MINOR + 1, "subtotal")
    assert raised.value.reason == "AMOUNT_TOO_LARGE"
