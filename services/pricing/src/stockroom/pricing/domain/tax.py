"""Splitting an amount into net, tax and gross, so that the parts always add up.

Pricing decides no jurisdiction: the caller gives each line its tax rates.
A rate is a percentage with at most 4 decimal places, held as an int of
millionths (8.875 % is 88 750 ppm), so no float and no Decimal rounding
is ever involved in the arithmetic.

- A price **without tax** (net): each tax is ``rate x net`` rounded by the
  currency's mode, one rounding per tax; ``gross = net + sum(taxes)``.
- A price **with tax** (gross): ``net = gross / (1 + sum(rates))`` rounded
  by the currency's mode; ``tax = gross - net``, and the tax is split over
  the rates by ``allocate`` (largest remainder), so the taxes add up to it.

Rounding is per line: a quote's totals are the sums of its lines' parts,
so ``net + tax = gross`` holds for every line and for the quote exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from stockroom.pricing.domain.money import RoundingMode, allocate, divide

PPM = 1_000_000
MAX_RATE_DECIMALS = 4
MAX_RATE_PPM = 100 * 10**MAX_RATE_DECIMALS  # 100 %
MAX_RATES_PER_LINE = 8


@dataclass(frozen=True)
class TaxRate:
    """One tax of a line: a name for people and its rate in millionths."""

    name: str
    rate_ppm: int

    @property
    def percent(self) -> str:
        """The rate as the caller wrote it, normalised ("8.875", "8.1", "0")."""
        text = f"{Decimal(self.rate_ppm).scaleb(-MAX_RATE_DECIMALS):f}"
        return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class TaxSplit:
    """An amount split into net + tax = gross, and the tax into one part per rate."""

    net_minor: int
    tax_minor: int
    gross_minor: int
    taxes_minor: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.net_minor + self.tax_minor != self.gross_minor:
            raise ValueError("net + tax must be gross")
        if self.taxes_minor and sum(self.taxes_minor) != self.tax_minor:
            raise ValueError("the taxes must add up to the tax")


def parse_rate_percent(text: str) -> int | None:
    """A rate like "8.875" as millionths (88750), or None when it is not one:
    not a plain decimal, more than 4 decimal places, below 0 or above 100."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value.as_tuple().exponent < -MAX_RATE_DECIMALS:  # type: ignore[operator]
        return None
    ppm = value.scaleb(MAX_RATE_DECIMALS)
    if ppm != ppm.to_integral_value() or not 0 <= ppm <= MAX_RATE_PPM:
        return None
    return int(ppm)


def split_tax(
    amount_minor: int, inclusive: bool, rates: Sequence[TaxRate], mode: RoundingMode
) -> TaxSplit:
    """``amount_minor`` (gross when ``inclusive``, else net) split by ``rates``."""
    if amount_minor < 0:
        raise ValueError("amounts are never negative")
    if not rates:
        return TaxSplit(amount_minor, 0, amount_minor)
    if not inclusive:
        taxes = tuple(divide(amount_minor * rate.rate_ppm, PPM, mode) for rate in rates)
        return TaxSplit(amount_minor, sum(taxes), amount_minor + sum(taxes), taxes)
    total_ppm = sum(rate.rate_ppm for rate in rates)
    net = divide(amount_minor * PPM, PPM + total_ppm, mode)
    tax = amount_minor - net
    weights = [rate.rate_ppm for rate in rates]
    shares = allocate(tax, weights) if total_ppm else [0] * len(rates)
    return TaxSplit(net, tax, amount_minor, tuple(shares))


def add_splits(splits: Sequence[TaxSplit]) -> TaxSplit:
    """The sum of several splits (a quote's total): each part the sum of its parts."""
    return TaxSplit(
        sum(s.net_minor for s in splits),
        sum(s.tax_minor for s in splits),
        sum(s.gross_minor for s in splits),
    )
