"""The allocation policy, as plain Python."""

from __future__ import annotations

import pytest

from stockroom.common.errors import FailedPrecondition
from stockroom.inventory.domain.model import Allocation, Line, StockLevel
from stockroom.inventory.domain.rules import allocate


def level(location_id: str, on_hand: int, reserved: int = 0, safety: int = 0) -> StockLevel:
    return StockLevel("SKU", location_id, on_hand, reserved, safety, 1)


def test_the_location_with_most_available_serves_a_line_it_can_hold_alone() -> None:
    levels = [level("A", 5), level("B", 9), level("C", 9, reserved=1)]

    assert allocate([Line("SKU", 5)], levels) == [Allocation("SKU", "B", 5)]


def test_ties_go_to_the_smaller_location_id() -> None:
    assert allocate([Line("SKU", 2)], [level("B", 4), level("A", 4)]) == [Allocation("SKU", "A", 2)]


def test_a_line_no_location_can_hold_is_split_over_the_fewest_locations() -> None:
    levels = [level("A", 2), level("B", 6), level("C", 5)]

    assert allocate([Line("SKU", 10)], levels) == [
        Allocation("SKU", "B", 6),
        Allocation("SKU", "C", 4),
    ]


def test_reserved_and_safety_stock_are_not_allocated() -> None:
    levels = [level("A", 10, reserved=4, safety=3), level("B", 2, safety=5)]

    with pytest.raises(FailedPrecondition) as raised:
        allocate([Line("SKU", 4)], levels)

    assert [v.description for v in raised.value.precondition_violations] == [
        "requested 4, available 3"
    ]
