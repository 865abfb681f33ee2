"""Exact money: integer minor units inside, ``google.type.Money`` on the wire."""

from __future__ import annotations

from decimal import Decimal

from google.type import money_pb2

from stockroom.common.errors import invalid_argument

# ISO 4217 minor-unit exponents for the currencies we price in.
MINOR_UNIT_EXPONENT: dict[str, int] = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KWD": 3}
NANOS_PER_UNIT = 1_000_000_000


def exponent(currency_code: str, field: str = "currency_code") -> int:
    try:
        return MINOR_UNIT_EXPONENT[currency_code]
    except KeyError:
        raise invalid_argument(
            field, f"unknown or unsupported currency {currency_code!r}", reason="UNKNOWN_CURRENCY"
        ) from None


def to_minor(money: money_pb2.Money, field: str) -> int:
    """Minor units of ``money``; rejects amounts finer than the currency allows."""
    places = exponent(money.currency_code, f"{field}.currency_code")
    if (money.units < 0) != (money.nanos < 0) and money.units and money.nanos:
        raise invalid_argument(field, "units and nanos must have the same sign")
    total = Decimal(money.units) + Decimal(money.nanos) / NANOS_PER_UNIT
    minor = total.scaleb(places)
    if minor != minor.to_integral_value():
        raise invalid_argument(
            field, f"{money.currency_code} has {places} decimal places", reason="TOO_PRECISE"
        )
    return int(minor)


def to_money(amount_minor: int, currency_code: str) -> money_pb2.Money:
    total = Decimal(amount_minor).scaleb(-exponent(currency_code))
    units = int(total)
    nanos = int((total - units) * NANOS_PER_UNIT)
    return money_pb2.Money(currency_code=currency_code, units=units, nanos=nanos)
