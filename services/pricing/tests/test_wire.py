"""google.type.Money to minor units and back is exact; what cannot be exact is refused."""

from __future__ import annotations

import pytest
from google.type import money_pb2
from hypothesis import given
from hypothesis import strategies as st

from stockroom.common.errors import FieldErrors
from stockroom.pricing.api.wire import amount_minor, set_money, to_money
from stockroom.pricing.domain.money import MAX_AMOUNT_MINOR
from stockroom.pricing.v1 import pricing_pb2 as pb

CURRENCIES = ["USD", "JPY", "KWD", "CLF", "EUR", "BHD", "KRW"]


@given(st.sampled_from(CURRENCIES), st.integers(0, MAX_AMOUNT_MINOR))
def test_amounts_survive_the_wire_exactly(currency_code: str, amount: int) -> None:
    problems = FieldErrors()

    money = to_money(amount, currency_code)

    assert amount_minor(problems, "price", money) == amount
    assert problems.violations == []
    assert 0 <= money.nanos < 1_000_000_000


def test_minor_units_follow_each_currencys_exponent() -> None:
    assert to_money(1250, "USD") == money_pb2.Money(
        currency_code="USD", units=12, nanos=500_000_000
    )
    assert to_money(800, "JPY") == money_pb2.Money(currency_code="JPY", units=800)
    assert to_money(1234, "KWD") == money_pb2.Money(currency_code="KWD", units=1, nanos=234_000_000)


@pytest.mark.parametrize(
    ("money", "field", "reason"),
    [
        (money_pb2.Money(currency_code="USD", units=1, nanos=5_000_000), "price", "TOO_PRECISE"),
        (money_pb2.Money(currency_code="JPY", units=1, nanos=1), "price", "TOO_PRECISE"),
        (money_pb2.Money(currency_code="USD", units=1, nanos=-1), "price", "SIGN_MISMATCH"),
        (money_pb2.Money(currency_code="USD", units=-1), "price", "NEGATIVE"),
        (
            money_pb2.Money(currency_code="USD", nanos=1_000_000_000),
            "price.nanos",
            "NANOS_OUT_OF_RANGE",
        ),
        (money_pb2.Money(currency_code="USD", units=10**14), "price", "TOO_LARGE"),
        (money_pb2.Money(currency_code="", units=1), "price.currency_code", "REQUIRED"),
        (money_pb2.Money(currency_code="XAU", units=1), "price.currency_code", "UNKNOWN_CURRENCY"),
    ],
)
def test_amounts_that_cannot_be_exact_minor_units_are_refused(
    money: money_pb2.Money, field: str, reason: str
) -> None:
    problems = FieldErrors()

    assert amount_minor(problems, "price", money) is None
    assert [(v.field, v.reason) for v in problems.violations] == [(field, reason)]


def test_an_amount_in_another_currency_is_a_mismatch() -> None:
    problems = FieldErrors()

    amount_minor(
        problems, "fee", money_pb2.Money(currency_code="EUR", units=1), currency_code="USD"
    )

    assert [(v.field, v.reason) for v in problems.violations] == [
        ("fee.currency_code", "CURRENCY_MISMATCH")
    ]


@given(
    st.sampled_from([*CURRENCIES, "XAU", "usd", ""]),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**31), 2**31 - 1),
)
def test_any_money_is_either_taken_exactly_or_refused_with_a_reason(
    currency_code: str, units: int, nanos: int
) -> None:
    money = money_pb2.Money(currency_code=currency_code, units=units, nanos=nanos)
    problems = FieldErrors()

    amount = amount_minor(problems, "price", money)

    if amount is None:
        assert len(problems.violations) == 1
    else:
        assert problems.violations == []
        assert to_money(amount, currency_code) == money


def test_an_amount_written_into_a_message_is_exact_and_set_even_when_zero() -> None:
    line = pb.QuoteLine()

    set_money(line.total, -1234, "KWD")
    set_money(line.net_total, 0, "JPY")

    assert line.total == money_pb2.Money(currency_code="KWD", units=-1, nanos=-234_000_000)
    assert line.HasField("net_total")
    assert line.net_total == money_pb2.Money(currency_code="JPY")
