"""Tax splits and cash rounding: parts always add up, and the shipped golden vectors hold."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockroom.pricing.domain.money import MAX_AMOUNT_MINOR, RoundingMode, divide
from stockroom.pricing.domain.rounding import CurrencyRules, cash_round
from stockroom.pricing.domain.tax import (
    PPM,
    TaxRate,
    parse_rate_percent,
    split_tax,
)

from .tax_reference import reference


def golden_vectors() -> list[dict[str, Any]]:
    text = resources.files("stockroom.pricing").joinpath("golden/tax_vectors.json").read_text()
    vectors: list[dict[str, Any]] = json.loads(text)["vectors"]
    return vectors


def rates_of(vector: dict[str, Any]) -> list[TaxRate]:
    rates = []
    for i, text in enumerate(vector["rates_percent"]):
        ppm = parse_rate_percent(text)
        assert ppm is not None
        rates.append(TaxRate(f"tax {i}", ppm))
    return rates


def test_the_golden_vectors_ship_with_the_package_and_cover_both_modes_and_cash() -> None:
    vectors = golden_vectors()

    assert len(vectors) >= 20
    assert {v["rounding_mode"] for v in vectors} == {"HALF_EVEN", "HALF_UP"}
    assert {v["tax_inclusive"] for v in vectors} == {True, False}
    assert any(v["cash_increment_minor"] > 1 for v in vectors)


@pytest.mark.parametrize("vector", golden_vectors(), ids=lambda v: str(v["name"]))
def test_pricing_computes_every_golden_vector_exactly(vector: dict[str, Any]) -> None:
    mode = RoundingMode(vector["rounding_mode"])
    split = split_tax(vector["amount_minor"], vector["tax_inclusive"], rates_of(vector), mode)
    due = cash_round(split.gross_minor, vector["cash_increment_minor"], mode)

    assert {
        "net_minor": split.net_minor,
        "tax_minor": split.tax_minor,
        "gross_minor": split.gross_minor,
        "taxes_minor": list(split.taxes_minor),
        "amount_due_minor": due,
    } == vector["expected"]


@pytest.mark.parametrize("vector", golden_vectors(), ids=lambda v: str(v["name"]))
def test_the_golden_vectors_agree_with_an_independent_decimal_implementation(
    vector: dict[str, Any],
) -> None:
    assert vector["expected"] == reference(
        vector["amount_minor"],
        vector["tax_inclusive"],
        vector["rates_percent"],
        vector["rounding_mode"],
        vector["cash_increment_minor"],
    )


rate_texts = st.builds(
    lambda whole, fraction, places: (
        f"{whole}.{str(fraction).zfill(4)[:places]}" if places else str(whole)
    ),
    st.integers(0, 30),
    st.integers(0, 9999),
    st.integers(0, 4),
)
amounts = st.integers(0, MAX_AMOUNT_MINOR // 2)
modes = st.sampled_from(list(RoundingMode))


@given(amounts, st.booleans(), st.lists(rate_texts, max_size=4), modes)
def test_parts_always_add_up_and_match_the_decimal_reference(
    amount: int, inclusive: bool, texts: list[str], mode: RoundingMode
) -> None:
    rates = [TaxRate(t, parse_rate_percent(t) or 0) for t in texts]
    split = split_tax(amount, inclusive, rates, mode)

    assert split.net_minor + split.tax_minor == split.gross_minor
    assert sum(split.taxes_minor) == split.tax_minor
    assert split.net_minor >= 0
    assert all(tax >= 0 for tax in split.taxes_minor)
    expected = reference(amount, inclusive, texts, mode.value, 1)
    assert split.net_minor == expected["net_minor"]
    assert list(split.taxes_minor) == expected["taxes_minor"]


@given(amounts, st.lists(st.integers(1, 300_000), min_size=1, max_size=4), modes)
def test_an_inclusive_split_is_within_half_a_minor_unit_of_exact(
    gross: int, rates_ppm: list[int], mode: RoundingMode
) -> None:
    rates = [TaxRate("", ppm) for ppm in rates_ppm]
    split = split_tax(gross, True, rates, mode)
    total = PPM + sum(rates_ppm)

    # |net - gross / (1 + r)| <= 1/2, in integers: |2 (net x total - gross x PPM)| <= total
    assert abs(2 * (split.net_minor * total - gross * PPM)) <= total


@given(amounts, st.sampled_from([1, 5, 10, 25, 50, 100]), modes)
def test_cash_rounding_lands_on_the_increment_within_half_of_it(
    amount: int, increment: int, mode: RoundingMode
) -> None:
    rounded = cash_round(amount, increment, mode)

    assert rounded % increment == 0
    assert 2 * abs(rounded - amount) <= increment


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_half_up_and_half_even_differ_only_on_ties(numerator: int, denominator: int) -> None:
    even = divide(numerator, denominator, RoundingMode.HALF_EVEN)
    up = divide(numerator, denominator, RoundingMode.HALF_UP)

    tie = 2 * (numerator % denominator) == denominator
    assert (even == up) or tie
    assert abs(2 * (up * denominator - numerator)) <= denominator


@pytest.mark.parametrize(
    ("text", "ppm"),
    [("8.1", 81_000), ("8.875", 88_750), ("0", 0), ("100", 1_000_000), ("0.0001", 1)],
)
def test_rates_are_read_exactly(text: str, ppm: int) -> None:
    assert parse_rate_percent(text) == ppm
    assert TaxRate("", ppm).percent == text


@pytest.mark.parametrize("text", ["8.12345", "-1", "100.01", "abc", "", "NaN", "Infinity"])
def test_rates_that_are_not_percentages_are_refused(text: str) -> None:
    assert parse_rate_percent(text) is None


def test_currency_rules_default_to_half_even_without_cash_rounding() -> None:
    rules = CurrencyRules({"CHF": RoundingMode.HALF_UP}, {"CHF": 5})

    assert rules.mode("USD") is RoundingMode.HALF_EVEN
    assert rules.cash_increment("USD") == 1
    assert rules.mode("CHF") is RoundingMode.HALF_UP
    assert rules.cash_increment("CHF") == 5
