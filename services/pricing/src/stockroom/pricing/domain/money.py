"""Exact money: integer minor units, ISO 4217 exponents, one rounding rule.

Every amount inside pricing is an ``int`` of the currency's minor unit (cents
for USD, yen for JPY, fils for KWD), so adding and multiplying never round.
Rounding happens only where a percentage is taken (a discount, a tax) and
where a total is rounded to cash, with the currency's ``RoundingMode``
(half to even unless configured); splitting an amount over lines uses ``allocate``, which
hands out every minor unit exactly. No float ever holds an amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import Enum

from iso4217 import Currency

from stockroom.common.errors import OutOfRange

# The largest amount (in minor units) any price, discount or total may have:
# 10^15 is 10 trillion USD or 1 quadrillion JPY, and fits google.type.Money's
# int64 units and a BIGINT column with room to spare.
MAX_AMOUNT_MINOR = 10**15
BASIS_POINTS_PER_WHOLE = 10_000
DOMAIN = "pricing.stockroom"


def minor_unit_exponent(currency_code: str) -> int | None:
    """Decimal places of the currency's minor unit, or None when pricing cannot use it.

    The table is the ISO 4217 list as published by its maintenance agency
    (the ``iso4217`` package ships it). Codes without a minor unit in that
    list (gold XAU, the SDR XDR, the "no currency" XXX, the test code XTS)
    and unknown codes are not currencies a price can be in.
    """
    if len(currency_code) != 3 or not currency_code.isupper():
        return None
    try:
        exponent = Currency(currency_code).exponent
    except ValueError:
        return None
    return exponent


def to_decimal(amount_minor: int, exponent: int) -> Decimal:
    """The amount in major units, exactly (12345 cents -> Decimal('123.45'))."""
    return Decimal(amount_minor).scaleb(-exponent)


def divide_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to an integer, ties to the even neighbour.

    The one rounding rule of pricing (banker's rounding, IEEE 754's default and
    commercetools' HalfEven): over many roundings ties go up as often as down,
    so sums carry no systematic bias.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


class RoundingMode(Enum):
    """How a result halfway between two minor units is rounded (a setting per currency)."""

    HALF_EVEN = "HALF_EVEN"
    HALF_UP = "HALF_UP"


def divide_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to an integer, ties away from zero
    (the "commercial" rounding some tax authorities prescribe)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def divide(numerator: int, denominator: int, mode: RoundingMode) -> int:
    """``numerator / denominator`` rounded to an integer by ``mode``."""
    if mode is RoundingMode.HALF_UP:
        return divide_half_up(numerator, denominator)
    return divide_half_even(numerator, denominator)


def percentage_of(
    amount_minor: int, basis_points: int, mode: RoundingMode = RoundingMode.HALF_EVEN
) -> int:
    """``basis_points`` / 10 000 of an amount, rounded by ``mode`` to a minor unit."""
    return divide(amount_minor * basis_points, BASIS_POINTS_PER_WHOLE, mode)


def allocate(amount_minor: int, weights: Sequence[int]) -> list[int]:
    """Split a non-negative amount over non-negative weights, to the minor unit.

    Largest-remainder method: each share is the floor of its exact
    proportional part, and the units left over go one each to the largest
    fractional parts (earlier positions first on ties). The shares add up to
    ``amount_minor`` exactly, each is within one minor unit of its exact
    part, and no share exceeds its weight when ``amount_minor <= sum(weights)``.
    """
    if amount_minor < 0 or any(weight < 0 for weight in weights):
        raise ValueError("allocate takes a non-negative amount and weights")
    total_weight = sum(weights)
    if amount_minor == 0:
        return [0] * len(weights)
    if total_weight == 0:
        raise ValueError("cannot allocate an amount over zero weights")
    parts = [divmod(amount_minor * weight, total_weight) for weight in weights]
    shares = [quotient for quotient, _ in parts]
    leftover = amount_minor - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-parts[i][1], i))
    for i in by_remainder[:leftover]:
        shares[i] += 1
    return shares


def check_amount(amount_minor: int, what: str) -> int:
    """``amount_minor`` itself, or OutOfRange when it passes MAX_AMOUNT_MINOR."""
    if abs(amount_minor) > MAX_AMOUNT_MINOR:
        raise OutOfRange(
            f"{what} is larger than pricing can hold ({MAX_AMOUNT_MINOR} minor units)",
            reason="AMOUNT_TOO_LARGE",
            domain=DOMAIN,
            metadata={"what": what},
        )
    return amount_minor
