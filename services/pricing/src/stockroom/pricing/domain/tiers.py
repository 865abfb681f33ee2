"""What a quantity of one SKU costs under a price: per unit, volume or graduated tiers.

The two tier modes are Stripe's (``tiers_mode``), which commercetools'
tiered prices follow for the volume case:

- volume: the tier the whole quantity falls in prices every unit, plus
  that tier's flat amount;
- graduated: each tier prices the units that fall within it, plus the flat
  amount of every tier that priced a unit.

A tier covers quantities up to and including ``up_to``; the last tier has no
bound, so every positive quantity has a price.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from stockroom.common.contract import MAX_QUANTITY
from stockroom.common.errors import FieldErrors
from stockroom.pricing.domain.money import MAX_AMOUNT_MINOR

MAX_TIERS = 32


class TiersMode(Enum):
    VOLUME = "VOLUME"
    GRADUATED = "GRADUATED"


@dataclass(frozen=True)
class Tier:
    """Units up to ``up_to`` (inclusive; None for "and above") at ``unit_amount_minor`` each."""

    up_to: int | None
    unit_amount_minor: int
    flat_amount_minor: int = 0


@dataclass(frozen=True)
class TierCharge:
    """What one tier charged for part (graduated) or all (volume) of a quantity."""

    tier_index: int
    tier: Tier
    quantity: int

    @property
    def amount_minor(self) -> int:
        return self.quantity * self.tier.unit_amount_minor + self.tier.flat_amount_minor


@dataclass(frozen=True)
class PriceSchedule:
    """The tiers of one price; ``mode`` is None for a per-unit price (one tier, no flat)."""

    tiers: tuple[Tier, ...]
    mode: TiersMode | None = None

    @classmethod
    def per_unit(cls, unit_amount_minor: int) -> PriceSchedule:
        return cls((Tier(None, unit_amount_minor),))

    @property
    def unit_amount_minor(self) -> int | None:
        """The unit price of a per-unit price; None for a tiered one."""
        return self.tiers[0].unit_amount_minor if self.mode is None else None

    def charge(self, quantity: int) -> tuple[TierCharge, ...]:
        """The tier charges for ``quantity`` units; their amounts add up to the line total."""
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        if self.mode is TiersMode.GRADUATED:
            return self._graduated(quantity)
        index = next(i for i, tier in enumerate(self.tiers) if _covers(tier, quantity))
        return (TierCharge(index, self.tiers[index], quantity),)

    def _graduated(self, quantity: int) -> tuple[TierCharge, ...]:
        charges = []
        lower = 0
        for index, tier in enumerate(self.tiers):
            upper = quantity if tier.up_to is None else min(tier.up_to, quantity)
            charges.append(TierCharge(index, tier, upper - lower))
            if upper == quantity:
                break
            lower = upper
        return tuple(charges)

    def total_minor(self, quantity: int) -> int:
        return sum(charge.amount_minor for charge in self.charge(quantity))


def _covers(tier: Tier, quantity: int) -> bool:
    return tier.up_to is None or quantity <= tier.up_to


def validate_schedule(problems: FieldErrors, schedule: PriceSchedule, field: str) -> None:
    """Add every problem with the tiers to ``problems`` (field paths under ``field``)."""
    tiers = schedule.tiers
    if not tiers:
        problems.add(field, "at least one tier is required", "REQUIRED")
        return
    if len(tiers) > MAX_TIERS:
        problems.add(field, f"at most {MAX_TIERS} tiers", "TOO_MANY")
    if schedule.mode is None and (len(tiers) > 1 or tiers[0].flat_amount_minor):
        problems.add(
            "tiers_mode", "is required with several tiers or a flat amount", "TIERS_MODE_REQUIRED"
        )
    previous = 0
    for i, tier in enumerate(tiers):
        last = i == len(tiers) - 1
        if last and tier.up_to is not None:
            problems.add(f"{field}[{i}].up_to", "the last tier must be unbounded (0)", "BOUNDED")
        elif not last and tier.up_to is None:
            problems.add(f"{field}[{i}].up_to", "only the last tier may be unbounded", "UNBOUNDED")
        elif tier.up_to is not None and not previous < tier.up_to <= MAX_QUANTITY:
            problems.add(
                f"{field}[{i}].up_to",
                f"must be above the previous bound ({previous}) and at most {MAX_QUANTITY}",
                "NOT_INCREASING",
            )
        previous = tier.up_to or previous
        for name, amount in (
            ("unit_amount", tier.unit_amount_minor),
            ("flat_amount", tier.flat_amount_minor),
        ):
            if amount < 0:
                problems.add(f"{field}[{i}].{name}", "must not be negative", "NEGATIVE")
            elif amount > MAX_AMOUNT_MINOR:
                problems.add(f"{field}[{i}].{name}", "is too large", "TOO_LARGE")
