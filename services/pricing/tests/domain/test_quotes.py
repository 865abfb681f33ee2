"""Pricing a cart: the numbers add up exactly, whatever the prices and promotions."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockroom.common.contract import MAX_AVAILABILITY_LINES as MAX_LINES
from stockroom.common.errors import FieldErrors
from stockroom.pricing.domain.prices import PriceListScope, PriceVersion
from stockroom.pricing.domain.promotions import Promotion, PromotionTarget, PromotionTerms
from stockroom.pricing.domain.quotes import (
    Availability,
    Cart,
    CartLine,
    StockCheck,
    price_cart,
    validate_cart,
)
from stockroom.pricing.domain.tiers import PriceSchedule, Tier, TiersMode

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
USD = PriceListScope("USD")


def version(sku: str, schedule: PriceSchedule) -> PriceVersion:
    return PriceVersion(f"p-{sku}", sku, USD, schedule, NOW, None, NOW)


def promotion(promotion_id: str, terms: PromotionTerms) -> Promotion:
    return Promotion(promotion_id, terms, NOW, NOW)


def test_a_cart_promotion_is_shared_over_the_lines_in_proportion() -> None:
    lines = [CartLine("MUG", 4), CartLine("TEE", 5)]
    prices = {
        "MUG": version("MUG", PriceSchedule.per_unit(1250)),
        "TEE": version("TEE", PriceSchedule.per_unit(1999)),
    }
    ten_off_cart = PromotionTerms("Ten off", "USD", PromotionTarget.CART, frozenset(), None, 1000)

    priced = price_cart(lines, prices, [promotion("7", ten_off_cart)], "USD")

    assert priced.subtotal_minor == 14_995
    assert [d.amount_minor for d in priced.cart_discounts] == [1000]
    # 1000 x 5000 / 14995 = 333.4..., 1000 x 9995 / 14995 = 666.5...: the unit left goes
    # to the larger remainder.
    assert [line.discount_minor for line in priced.lines] == [333, 667]
    assert priced.total_minor == 13_995


def test_sku_and_cart_promotions_combine_one_each() -> None:
    lines = [CartLine("MUG", 4)]
    prices = {"MUG": version("MUG", PriceSchedule.per_unit(1250))}
    mug_sale = PromotionTerms(
        "Mug sale", "USD", PromotionTarget.SKUS, frozenset({"MUG"}), 2000, None
    )
    cart_sale = PromotionTerms("Cart sale", "", PromotionTarget.CART, frozenset(), 1000, None)

    priced = price_cart(lines, prices, [promotion("1", mug_sale), promotion("2", cart_sale)], "USD")

    (line,) = priced.lines
    assert [(d.promotion_id, d.amount_minor) for d in line.discounts] == [("1", 1000), ("2", 400)]
    assert priced.total_minor == 5000 - 1000 - 400


def test_promotions_in_another_currency_do_not_apply() -> None:
    prices = {"MUG": version("MUG", PriceSchedule.per_unit(1250))}
    in_euros = PromotionTerms("Euro sale", "EUR", PromotionTarget.CART, frozenset(), 1000, None)

    priced = price_cart([CartLine("MUG", 1)], prices, [promotion("1", in_euros)], "USD")

    assert priced.discount_minor == 0


def test_a_graduated_line_has_no_single_unit_price() -> None:
    graduated = PriceSchedule((Tier(5, 500), Tier(None, 400)), TiersMode.GRADUATED)
    volume = PriceSchedule((Tier(5, 500), Tier(None, 400)), TiersMode.VOLUME)

    priced = price_cart(
        [CartLine("A", 7), CartLine("B", 7)],
        {"A": version("A", graduated), "B": version("B", volume)},
        [],
        "USD",
    )

    a, b = priced.lines
    assert (a.unit_amount_minor, a.total_minor) == (None, 5 * 500 + 2 * 400)
    assert (b.unit_amount_minor, b.total_minor) == (400, 7 * 400)


def two_tiers(first: int, second: int, flat: int, bound: int, mode: TiersMode) -> PriceSchedule:
    return PriceSchedule((Tier(bound, first), Tier(None, second, flat)), mode)


schedules = st.one_of(
    st.integers(0, 10**7).map(PriceSchedule.per_unit),
    st.builds(
        two_tiers,
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.integers(0, 10**5),
        st.integers(1, 100),
        st.sampled_from(TiersMode),
    ),
)


@st.composite
def carts(draw: st.DrawFn) -> tuple[list[CartLine], dict[str, PriceVersion], list[Promotion]]:
    skus = draw(st.lists(st.sampled_from("ABCDEFGH"), min_size=1, max_size=8, unique=True))
    lines = [CartLine(sku, draw(st.integers(1, 500))) for sku in skus]
    prices = {sku: version(sku, draw(schedules)) for sku in skus}
    promotions = []
    for i in range(draw(st.integers(0, 6))):
        target = draw(st.sampled_from(PromotionTarget))
        percent = draw(st.booleans())
        terms = PromotionTerms(
            display_name=f"promo {i}",
            currency_code=draw(st.sampled_from(["", "USD"])) if percent else "USD",
            target=target,
            skus=frozenset(draw(st.lists(st.sampled_from("ABCDEFGH"), min_size=1)))
            if target is PromotionTarget.SKUS
            else frozenset(),
            basis_points_off=draw(st.integers(1, 10_000)) if percent else None,
            amount_off_minor=None if percent else draw(st.integers(1, 10**6)),
            minimum_quantity=draw(st.integers(0, 600)),
            minimum_subtotal_minor=draw(st.none() | st.integers(0, 10**8)),
        )
        promotions.append(promotion(str(i), terms))
    return lines, prices, promotions


@given(carts())
def test_line_totals_sum_to_the_subtotal_and_nets_to_the_total(
    cart: tuple[list[CartLine], dict[str, PriceVersion], list[Promotion]],
) -> None:
    lines, prices, promotions = cart

    priced = price_cart(lines, prices, promotions, "USD")

    assert sum(line.total_minor for line in priced.lines) == priced.subtotal_minor
    assert sum(line.net_total_minor for line in priced.lines) == priced.total_minor
    assert priced.total_minor == priced.subtotal_minor - priced.discount_minor
    for line, cart_line in zip(priced.lines, lines, strict=True):
        assert line.total_minor == prices[line.sku].schedule.total_minor(cart_line.quantity)
        assert line.total_minor == sum(c.amount_minor for c in line.charges)


@given(carts())
def test_discounts_never_make_a_line_or_the_total_negative(
    cart: tuple[list[CartLine], dict[str, PriceVersion], list[Promotion]],
) -> None:
    lines, prices, promotions = cart

    priced = price_cart(lines, prices, promotions, "USD")

    assert all(line.net_total_minor >= 0 for line in priced.lines)
    assert all(d.amount_minor > 0 for line in priced.lines for d in line.discounts)
    assert priced.total_minor >= 0


@given(carts())
def test_the_cart_discount_shares_add_up_to_the_cart_discount_exactly(
    cart: tuple[list[CartLine], dict[str, PriceVersion], list[Promotion]],
) -> None:
    lines, prices, promotions = cart

    priced = price_cart(lines, prices, promotions, "USD")

    cart_ids = {d.promotion_id for d in priced.cart_discounts}
    shares = sum(
        d.amount_minor
        for line in priced.lines
        for d in line.discounts
        if d.promotion_id in cart_ids and d.target is PromotionTarget.CART
    )
    assert shares == sum(d.amount_minor for d in priced.cart_discounts)
    assert len(priced.cart_discounts) <= 1
    assert all(
        sum(1 for d in line.discounts if d.target is PromotionTarget.SKUS) <= 1
        for line in priced.lines
    )


@given(carts())
def test_percentage_rounding_moves_each_line_by_at_most_half_a_minor_unit(
    cart: tuple[list[CartLine], dict[str, PriceVersion], list[Promotion]],
) -> None:
    lines, prices, promotions = cart
    by_id = {p.promotion_id: p for p in promotions}

    priced = price_cart(lines, prices, promotions, "USD")

    rounded, exact = 0, Fraction(0)
    for line in priced.lines:
        for discount in line.discounts:
            basis_points = by_id[discount.promotion_id].terms.basis_points_off
            if discount.target is PromotionTarget.SKUS and basis_points is not None:
                line_exact = Fraction(line.total_minor * basis_points, 10_000)
                assert abs(discount.amount_minor - line_exact) <= Fraction(1, 2)
                rounded += discount.amount_minor
                exact += line_exact
    assert abs(rounded - exact) <= Fraction(len(lines), 2)


@pytest.mark.parametrize(
    ("lines", "currency_code", "field", "reason"),
    [
        ((), "USD", "lines", "EMPTY"),
        ((CartLine("MUG", 0),), "USD", "lines[0].quantity", "NOT_POSITIVE"),
        ((CartLine("MUG", -3),), "USD", "lines[0].quantity", "NOT_POSITIVE"),
        ((CartLine("", 1),), "USD", "lines[0].sku", "REQUIRED"),
        ((CartLine(" MUG", 1),), "USD", "lines[0].sku", "MALFORMED"),
        ((CartLine("MUG", 1), CartLine("MUG", 2)), "USD", "lines[1].sku", "DUPLICATE_SKU"),
        ((CartLine("MUG", 1),), "XXX", "currency_code", "UNKNOWN_CURRENCY"),
        ((CartLine("MUG", 1),), "", "currency_code", "REQUIRED"),
        ((CartLine("MUG", 10**10),), "USD", "lines[0].quantity", "TOO_LARGE"),
        (tuple(CartLine(f"S{i}", 1) for i in range(MAX_LINES + 1)), "USD", "lines", "TOO_MANY"),
    ],
)
def test_bad_carts_are_reported_by_field(
    lines: tuple[CartLine, ...], currency_code: str, field: str, reason: str
) -> None:
    problems = FieldErrors()

    validate_cart(problems, Cart(lines, PriceListScope(currency_code)))

    assert (field, reason) in [(v.field, v.reason) for v in problems.violations]


def test_availability_is_in_stock_insufficient_or_unknown() -> None:
    answered = StockCheck({"MUG": 5})
    silent = StockCheck.unknown("UNAVAILABLE", "inventory did not answer")

    assert answered.of("MUG", 5) == (Availability.IN_STOCK, 5)
    assert answered.of("MUG", 6) == (Availability.INSUFFICIENT, 5)
    assert answered.of("TEE", 1) == (Availability.INSUFFICIENT, 0)
    assert silent.of("MUG", 1) == (Availability.UNKNOWN, None)
