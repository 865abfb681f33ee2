"""Per-currency rounding settings: the rounding mode and the cash rounding increment.

Half to even is the default everywhere; a currency may be configured to round
half up instead. A cash increment (CHF 5 minor units, i.e. 0.05) rounds only
what is to be paid, never a line, a tax or a discount, so every other number
stays exact and the adjustment is shown on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stockroom.pricing.domain.money import RoundingMode, divide


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
