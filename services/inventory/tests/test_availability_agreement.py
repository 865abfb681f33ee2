"""CheckAvailability answers what ReserveStock with the same lines and location filter would
do: a property, through a real server on SQLite and PostgreSQL, and for the domain's rules
alone (``rules.availability`` beside ``rules.allocate``).

Hypothesis builds stock per location (on hand, safety stock, units already reserved there),
deactivates some SKUs, and asks about lines, sometimes of an unregistered SKU, with or
without a location filter. The reservation must succeed exactly when every line is
satisfiable; when it is refused for stock, its violations are the unsatisfiable lines with
the same numbers; any other refusal (an inactive or unknown SKU) concerns a line the check
called unsatisfiable too.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockroom.common.errors import FailedPrecondition, NotFound
from stockroom.inventory.domain import rules
from stockroom.inventory.domain.model import Line, StockLevel
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb

T = TypeVar("T")
LOCATIONS = ("L1", "L2", "L3")


@dataclass(frozen=True)
class Stock:
    """One SKU's stock per location: (on hand, safety stock, units reserved there)."""

    levels: dict[str, tuple[int, int, int]]
    active: bool


@st.composite
def stock(draw: st.DrawFn) -> Stock:
    levels: dict[str, tuple[int, int, int]] = {}
    for location in draw(st.lists(st.sampled_from(LOCATIONS), unique=True, min_size=1)):
        on_hand = draw(st.integers(0, 20))
        safety = draw(st.integers(0, 4))
        reserved = draw(st.integers(0, max(0, on_hand - safety)))
        levels[location] = (on_hand, safety, reserved)
    return Stock(levels, active=draw(st.integers(0, 7)) != 5)


@dataclass(frozen=True)
class Scenario:
    stock: list[Stock]
    # (index into stock, or -1 for an unregistered SKU; quantity)
    lines: list[tuple[int, int]]
    location_ids: list[str]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    stocks = draw(st.lists(stock(), min_size=1, max_size=3))
    indexes = draw(
        st.lists(st.integers(0, len(stocks) - 1), min_size=1, max_size=len(stocks), unique=True)
    )
    if draw(st.integers(0, 7)) == 5:
        indexes.append(-1)  # a line of an unregistered SKU, now and then
    lines = [(i, draw(st.integers(1, 14))) for i in indexes]
    location_ids = draw(st.lists(st.sampled_from(LOCATIONS), unique=True, max_size=3))
    return Scenario(stocks, lines, location_ids)


async def arrange(inventory: Inventory, prefix: str, scenario: Scenario) -> list[str]:
    """Register and stock the scenario's SKUs (named after ``prefix``); their SKUs."""
    skus = [f"{prefix}-{n}" for n in range(len(scenario.stock))]
    await inventory.register(skus, [])
    for sku, wanted in zip(skus, scenario.stock, strict=True):
        for location, (on_hand, safety, reserved) in wanted.levels.items():
            if on_hand:
                await inventory.receive(sku, location, on_hand)
            if reserved:
                await inventory.reserve({sku: reserved}, location_ids=(location,))
            if safety:
                await inventory.stub.SetSafetyStock(
                    pb.SetSafetyStockRequest(
                        sku=sku, location_id=location, safety_stock=safety, request_id=request_id()
                    )
                )
        if not wanted.active:
            await inventory.stub.DeactivateItem(
                pb.DeactivateItemRequest(sku=sku, reason="gone", request_id=request_id())
            )
    return skus


async def check_then_reserve(
    inventory: Inventory, lines: list[tuple[str, int]], location_ids: list[str]
) -> tuple[pb.CheckAvailabilityResponse, pb.Reservation | FailedPrecondition | NotFound]:
    check = await inventory.stub.CheckAvailability(
        pb.CheckAvailabilityRequest(
            lines=[pb.AvailabilityLine(sku=s, quantity=q) for s, q in lines],
            location_ids=location_ids,
        )
    )
    try:
        reserved = await inventory.stub.ReserveStock(
            pb.ReserveStockRequest(
                lines=[pb.ReserveStockLine(sku=s, quantity=q) for s, q in lines],
                location_ids=location_ids,
                request_id=request_id(),
            )
        )
    except (FailedPrecondition, NotFound) as refusal:
        return check, refusal
    return check, reserved.reservation


def assert_they_agree(
    check: pb.CheckAvailabilityResponse,
    outcome: pb.Reservation | FailedPrecondition | NotFound,
    location_ids: list[str],
    inactive: set[str],
    unknown: set[str],
) -> None:
    short = {
        (line.sku, f"requested {line.requested}, available {line.available}")
        for line in check.lines
        if not line.satisfiable
    }
    assert all(line.satisfiable == (line.available >= line.requested) for line in check.lines)
    if isinstance(outcome, pb.Reservation):
        assert not short, f"reserved although the check found {short} short"
        for line in outcome.lines:
            assert sum(a.quantity for a in line.allocations) == line.quantity
            assert not location_ids or {a.location_id for a in line.allocations} <= set(
                location_ids
            )
        return
    assert short, f"refused ({outcome}) although the check found every line satisfiable"
    if isinstance(outcome, NotFound):
        assert outcome.resource is not None
        assert outcome.resource.resource_name in unknown
    elif outcome.reason == "ITEM_INACTIVE":
        (violation,) = outcome.precondition_violations
        assert violation.subject in inactive
    else:
        assert outcome.reason == "INSUFFICIENT_STOCK"
        assert not ({s for s, _ in short} & (inactive | unknown))
        assert {(v.subject, v.description) for v in outcome.precondition_violations} == short


@pytest.mark.slow
async def test_check_availability_and_reserve_stock_agree(
    inventory: Inventory, database_url: str
) -> None:
    await inventory.register([], list(LOCATIONS))
    loop = asyncio.get_running_loop()
    examples = itertools.count()

    def on_loop(work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=120)

    @settings(
        max_examples=40 if database_url.startswith("sqlite") else 15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(scenario=scenarios())
    def agree(scenario: Scenario) -> None:
        skus = on_loop(arrange(inventory, f"S{next(examples)}", scenario))
        lines = [(skus[i] if i >= 0 else "NEVER-REGISTERED", q) for i, q in scenario.lines]
        check, outcome = on_loop(check_then_reserve(inventory, lines, scenario.location_ids))
        inactive = {sku for sku, s in zip(skus, scenario.stock, strict=True) if not s.active}
        assert_they_agree(check, outcome, scenario.location_ids, inactive, {"NEVER-REGISTERED"})

    await asyncio.to_thread(agree)


levels_strategy = st.lists(
    st.builds(
        StockLevel,
        sku=st.sampled_from(["A", "B"]),
        location_id=st.sampled_from(LOCATIONS),
        on_hand=st.integers(0, 20),
        reserved=st.integers(0, 20),
        safety_stock=st.integers(0, 5),
        version=st.just(1),
    ).filter(lambda lv: lv.reserved <= lv.on_hand),
    max_size=6,
    unique_by=lambda lv: (lv.sku, lv.location_id),
)


@settings(max_examples=300)
@given(
    levels=levels_strategy,
    wanted=st.dictionaries(st.sampled_from(["A", "B", "C"]), st.integers(1, 40), min_size=1),
    location_ids=st.lists(st.sampled_from(LOCATIONS), unique=True, max_size=3),
    inactive=st.sets(st.sampled_from(["A", "B"])),
)
def test_the_rules_promise_what_allocation_holds(
    levels: list[StockLevel], wanted: dict[str, int], location_ids: list[str], inactive: set[str]
) -> None:
    lines = [Line(sku, quantity) for sku, quantity in wanted.items()]
    promisable = rules.promisable(levels, location_ids, inactive)

    offers = rules.availability(lines, promisable)
    short = {
        (o.sku, f"requested {o.requested}, available {o.available}")
        for o in offers
        if not o.satisfiable
    }
    if short:
        with pytest.raises(FailedPrecondition) as refusal:
            rules.allocate(lines, promisable)
        assert {(v.subject, v.description) for v in refusal.value.precondition_violations} == short
        return
    allocations = rules.allocate(lines, promisable)
    for line in lines:
        taken = [a for a in allocations if a.sku == line.sku]
        assert sum(a.quantity for a in taken) == line.quantity
        assert line.sku not in inactive
        assert not location_ids or {a.location_id for a in taken} <= set(location_ids)
