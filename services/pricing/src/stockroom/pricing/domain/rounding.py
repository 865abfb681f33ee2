"""Per-currency rounding settings: the rounding mode and the cash rounding increment.

Half to even is the default everywhere; a currency may be configured to round
half up instead. A cash increment (CHF 5 minor units, i.e. 0.05) rounds only
what is to be paid, never a line, a tax or a discount, so every other number
stays exact and the adjustment is shown on its own. A relative price list's
amounts (``adjust``) are rounded by the same mode, through the same
``percentage_of`` a percentage discount uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stockroom.pricing.domain.money import (
    BASIS_POINTS_PER_WHOLE,
    RoundingMode,
    divide,
    percentage_of,
)


@dataclass(frozen=True)
class CurrencyRules:
    """The rounding settings: modes and cash increments (in minor units) per currency."""

    modes: Mapping[str, RoundingMode] = field(default_factory=dict)
    cash_increments: Mapping[str, int] = field(default_factory=dict)

    def mode(self, currency_code: str) -> RoundingMode:
        return self.modes.get(currency_code, RoundingMode.HALF_EVEN)

    def cash_increment(self, currency_code: str) -> int:
        return self.cash_increments.get(currency_code, 1)


def cash_round(amount_minor: int, increment_minor: int, mode: RoundingMode) -> int:
    """``amount_minor`` rounded to a multiple of ``increment_minor`` by ``mode``."""
    if increment_minor <= 0:
        raise ValueError("a cash increment is positive")
    return divide(amount_minor, increment_minor, mode) * increment_minor


def adjust(amount_minor: int, basis_points: int, mode: RoundingMode) -> int:
    """``amount_minor`` changed by ``basis_points`` / 10 000 of itself (-1000: 10 % less).

    The change is the one rule's percentage (``percentage_of``, rounded once by
    ``mode``), so 10 % below a price is exactly the price less what a 10 %
    promotion takes off it. Both modes round symmetrically around zero, so a
    cut and a markup of the same size differ only in sign. Never negative:
    at most -100 % is allowed, and a rounded share of an amount is never more
    than the amount.
    """
    if basis_points < -BASIS_POINTS_PER_WHOLE:
        raise ValueError("an adjustment takes at most 100 % off")
    return amount_minor + percentage_of(amount_minor, basis_points, mode)
