"""Tiered prices as Stripe defines them: volume prices every unit at the tier reached,
graduated prices each tier's own units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockroom.common.errors import FieldErrors
from stockroom.pricing.domain.tiers import PriceSchedule, Tier, TiersMode, validate_schedule

# Stripe's documentation example: 1-5 units at 5.00, 6-10 at 4.00, 11+ at 3.00 (cents).
STEPS = (Tier(5, 500), Tier(10, 400), Tier(None, 300))


def test_volume_prices_every_unit_at_the_tier_the_quantity_reaches() -> None:
    volume = PriceSchedule(STEPS, TiersMode.VOLUME)

    assert volume.total_minor(5) == 5 * 500
    assert volume.total_minor(6) == 6 * 400
    assert volume.total_minor(12) == 12 * 300
    (charge,) = volume.charge(12)
    assert (charge.tier_index, charge.quantity) == (2, 12)


def test_graduated_prices_each_tiers_own_units() -> None:
    graduated = PriceSchedule(STEPS, TiersMode.GRADUATED)

    charges = graduated.charge(12)

    assert [(c.tier_index, c.quantity) for c in charges] == [(0, 5), (1, 5), (2, 2)]
    assert graduated.total_minor(12) == 5 * 500 + 5 * 400 + 2 * 300


def test_a_quantity_on_a_tier_bound_stays_in_that_tier() -> None:
    assert PriceSchedule(STEPS, TiersMode.VOLUME).charge(10)[0].tier_index == 1
    assert [c.tier_index for c in PriceSchedule(STEPS, TiersMode.GRADUATED).charge(10)] == [0, 1]


def test_flat_amounts_are_charged_once_per_tier_used() -> None:
    tiers = (Tier(10, 100, flat_amount_minor=1000), Tier(None, 50, flat_amount_minor=700))

    assert PriceSchedule(tiers, TiersMode.VOLUME).total_minor(12) == 12 * 50 + 700
    assert PriceSchedule(tiers, TiersMode.GRADUATED).total_minor(12) == (
        10 * 100 + 1000 + 2 * 50 + 700
    )
    assert PriceSchedule(tiers, TiersMode.GRADUATED).total_minor(3) == 3 * 100 + 1000


def test_a_per_unit_price_has_a_unit_amount_and_a_tiered_one_does_not() -> None:
    assert PriceSchedule.per_unit(1250).unit_amount_minor == 1250
    assert PriceSchedule.per_unit(1250).total_minor(3) == 3750
    assert PriceSchedule(STEPS, TiersMode.VOLUME).unit_amount_minor is None


tier_lists = st.lists(
    st.tuples(st.integers(1, 50), st.integers(0, 10_000), st.integers(0, 5_000)),
    min_size=1,
    max_size=6,
).map(
    lambda steps: tuple(
        Tier(
            None if i == len(steps) - 1 else sum(width for width, _, _ in steps[: i + 1]),
            unit,
            flat,
        )
        for i, (_, unit, flat) in enumerate(steps)
    )
)


@given(tier_lists, st.integers(1, 400))
def test_graduated_total_is_the_sum_of_each_units_own_tier(
    tiers: tuple[Tier, ...], quantity: int
) -> None:
    def tier_of(unit: int) -> int:
        return next(i for i, t in enumerate(tiers) if t.up_to is None or unit <= t.up_to)

    used = {tier_of(unit) for unit in range(1, quantity + 1)}
    by_hand = sum(tiers[tier_of(unit)].unit_amount_minor for unit in range(1, quantity + 1))
    by_hand += sum(tiers[i].flat_amount_minor for i in used)

    graduated = PriceSchedule(tiers, TiersMode.GRADUATED)

    assert graduated.total_minor(quantity) == by_hand
    assert sum(c.quantity for c in graduated.charge(quantity)) == quantity


@given(tier_lists, st.integers(1, 400))
def test_graduated_totals_never_fall_as_quantity_rises(
    tiers: tuple[Tier, ...], quantity: int
) -> None:
    graduated = PriceSchedule(tiers, TiersMode.GRADUATED)

    assert graduated.total_minor(quantity + 1) >= graduated.total_minor(quantity)


@given(tier_lists, st.integers(1, 400))
def test_volume_charges_the_whole_quantity_in_one_tier(
    tiers: tuple[Tier, ...], quantity: int
) -> None:
    (charge,) = PriceSchedule(tiers, TiersMode.VOLUME).charge(quantity)

    assert charge.quantity == quantity
    assert charge.amount_minor == quantity * charge.tier.unit_amount_minor + (
        charge.tier.flat_amount_minor
    )


@pytest.mark.parametrize(
    ("tiers", "mode", "field", "reason"),
    [
        ((), TiersMode.VOLUME, "tiers", "REQUIRED"),
        ((Tier(5, 100),), TiersMode.VOLUME, "tiers[0].up_to", "BOUNDED"),
        ((Tier(None, 100), Tier(None, 50)), TiersMode.VOLUME, "tiers[0].up_to", "UNBOUNDED"),
        (
            (Tier(5, 100), Tier(5, 90), Tier(None, 80)),
            TiersMode.VOLUME,
            "tiers[1].up_to",
            "NOT_INCREASING",
        ),
        ((Tier(5, 100), Tier(None, -1)), TiersMode.GRADUATED, "tiers[1].unit_amount", "NEGATIVE"),
        ((Tier(5, 100), Tier(None, 90)), None, "tiers_mode", "TIERS_MODE_REQUIRED"),
        ((Tier(None, 100, 5),), None, "tiers_mode", "TIERS_MODE_REQUIRED"),
    ],
)
def test_malformed_tiers_are_reported_by_field(
    tiers: tuple[Tier, ...], mode: TiersMode | None, field: str, reason: str
) -> None:
    problems = FieldErrors()

    validate_schedule(problems, PriceSchedule(tiers, mode), "tiers")

    assert (field, reason) in [(v.field, v.reason) for v in problems.violations]


def test_well_formed_tiers_have_no_problems() -> None:
    problems = FieldErrors()

    validate_schedule(problems, PriceSchedule(STEPS, TiersMode.GRADUATED), "tiers")
    validate_schedule(problems, PriceSchedule.per_unit(0), "tiers")

    assert problems.violations == []
