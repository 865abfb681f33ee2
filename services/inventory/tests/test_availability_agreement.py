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
from stockroom.inventory.domain.model import KitComponent, Line, StockLevel
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
    # A kit of some of the SKUs: (index into stock, units per kit); empty: no kit.
    kit: list[tuple[int, int]]
    # (index into stock, -1 for an unregistered SKU, -2 for the kit; quantity)
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
    parts = draw(st.lists(st.integers(0, len(stocks) - 1), unique=True, max_size=2))
    kit = [(i, draw(st.integers(1, 3))) for i in parts]
    with_kit_line: bool = draw(st.booleans())
    if kit and with_kit_line:
        # The kit line goes first or last: its components' lines count what it leaves.
        indexes.insert(draw(st.sampled_from([0, len(indexes)])), -2)
    lines = [(i, draw(st.integers(1, 14 if i != -2 else 5))) for i in indexes]
    location_ids = draw(st.lists(st.sampled_from(LOCATIONS), unique=True, max_size=3))
    return Scenario(stocks, kit, lines, location_ids)


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
    if scenario.kit:
        await inventory.stub.CreateItem(
            pb.CreateItemRequest(
                item=pb.Item(
                    sku=f"{prefix}-KIT",
                    components=[
                        pb.KitComponent(sku=skus[i], quantity=units) for i, units in scenario.kit
                    ],
                ),
                request_id=request_id(),
            )
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
            parts = line.components or [line]
            for part in parts:
                assert sum(a.quantity for a in part.allocations) == part.quantity
                places = {a.location_id for a in part.allocations}
                assert not location_ids or places <= set(location_ids)
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
        prefix = f"S{next(examples)}"
        skus = on_loop(arrange(inventory, prefix, scenario))
        names = {-1: "NEVER-REGISTERED", -2: f"{prefix}-KIT", **dict(enumerate(skus))}
        lines = [(names[i], q) for i, q in scenario.lines]
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


KIT = (KitComponent("A", 1), KitComponent("B", 2))


@settings(max_examples=300)
@given(
    levels=levels_strategy,
    wanted=st.dictionaries(st.sampled_from(["A", "B", "C", "K"]), st.integers(1, 40), min_size=1),
    location_ids=st.lists(st.sampled_from(LOCATIONS), unique=True, max_size=3),
    inactive=st.sets(st.sampled_from(["A", "B", "K"])),
)
def test_the_rules_promise_what_allocation_holds(
    levels: list[StockLevel], wanted: dict[str, int], location_ids: list[str], inactive: set[str]
) -> None:
    """For any stock, lines (a kit K of one A and two B among them, taken in order) and
    filter: the lines CheckAvailability calls satisfiable are exactly the ones a
    reservation holds, or it is refused naming exactly the others."""
    lines = [Line(sku, quantity) for sku, quantity in wanted.items()]
    promisable = rules.promisable(levels, location_ids)
    kits = {"K": KIT}
    reasons = {sku: "gone" for sku in inactive}

    offers = rules.availability(lines, promisable, kits, inactive)
    short = {
        (o.sku, f"requested {o.requested}, available {o.available}")
        for o in offers
        if not o.satisfiable
    }
    if inactive & set(wanted):
        with pytest.raises(FailedPrecondition) as refused:
            rules.check_active(wanted, reasons)
        assert refused.value.reason == "ITEM_INACTIVE"
        assert {sku for sku, _ in short} >= inactive & set(wanted)
        return
    if short:
        with pytest.raises(FailedPrecondition) as refusal:
            rules.allocate_lines(lines, promisable, kits)
        assert {(v.subject, v.description) for v in refusal.value.precondition_violations} == short
        return
    holds = rules.allocate_lines(lines, promisable, kits)
    for line, hold in zip(lines, holds, strict=True):
        if line.sku == "K":
            per_kit = {c.sku: c.quantity for c in KIT}
            assert {c.sku: c.quantity for c in hold.components} == {
                sku: units * line.quantity for sku, units in per_kit.items()
            }
            taken = [a for c in hold.components for a in c.allocations]
            for c in hold.components:
                assert sum(a.quantity for a in c.allocations) == c.quantity
        else:
            taken = list(hold.allocations)
            assert sum(a.quantity for a in taken) == line.quantity
        assert not location_ids or {a.location_id for a in taken} <= set(location_ids)


async def test_lines_of_one_check_count_what_the_lines_before_them_leave(
    inventory: Inventory,
) -> None:
    """A kit and one of its components in one cart: the component line gets what the kit
    line leaves, as the reservation of that cart would."""
    await inventory.register(["MUG", "SPOON"], ["WH-1"])
    await inventory.stub.CreateItem(
        pb.CreateItemRequest(
            item=pb.Item(
                sku="SET",
                components=[
                    pb.KitComponent(sku="MUG", quantity=1),
                    pb.KitComponent(sku="SPOON", quantity=2),
                ],
            ),
            request_id=request_id(),
        )
    )
    await inventory.receive("MUG", "WH-1", 5)
    await inventory.receive("SPOON", "WH-1", 10)
    cart = [("SET", 3), ("MUG", 3)]

    check, outcome = await check_then_reserve(inventory, cart, [])
    alone = await inventory.stub.CheckAvailability(
        pb.CheckAvailabilityRequest(lines=[pb.AvailabilityLine(sku="MUG", quantity=3)])
    )

    assert [(line.available, line.satisfiable) for line in check.lines] == [(5, True), (2, False)]
    assert (alone.lines[0].available, alone.lines[0].satisfiable) == (5, True)
    assert isinstance(outcome, FailedPrecondition)
    assert [(v.subject, v.description) for v in outcome.precondition_violations] == [
        ("MUG", "requested 3, available 2")
    ]
