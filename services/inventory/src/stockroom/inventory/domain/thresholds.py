"""Threshold events derived from ledger entries: a level running out, coming back, or
dropping below its reorder point.

Decided here once, from the level each entry leaves behind, so the events
say exactly what the ledger says (plain Python, no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from stockroom.inventory.domain.model import Movement, StockKey, StockLevel


class Threshold(StrEnum):
    OUT_OF_STOCK = "out_of_stock"  # available from above zero to zero
    BACK_IN_STOCK = "back_in_stock"  # available from zero to above zero
    # available from at or above the reorder point to below it (or the point raised above it)
    BELOW_REORDER_POINT = "below_reorder_point"


@dataclass(frozen=True)
class ThresholdCrossing:
    threshold: Threshold
    entry: Movement
    previous_available: int


def crossings(
    entries: Sequence[Movement], before: Mapping[StockKey, StockLevel]
) -> list[ThresholdCrossing]:
    """The thresholds ``entries`` cross, in entry order.

    ``before`` holds the levels as they were before the first entry; a level
    missing from it did not exist, so its available quantity was zero.
    """
    last = dict(before)
    found: list[ThresholdCrossing] = []
    for entry in entries:
        key = entry.level.key
        earlier = last.get(key)
        previous, current = (earlier.available if earlier else 0), entry.level.available
        if previous > 0 and current == 0:
            found.append(ThresholdCrossing(Threshold.OUT_OF_STOCK, entry, previous))
        elif previous == 0 and current > 0:
            found.append(ThresholdCrossing(Threshold.BACK_IN_STOCK, entry, previous))
        if below_reorder_point(entry.level) and not (earlier and below_reorder_point(earlier)):
            found.append(ThresholdCrossing(Threshold.BELOW_REORDER_POINT, entry, previous))
        last[key] = entry.level
    return found


def below_reorder_point(level: StockLevel) -> bool:
    """Whether a level needs reordering: it has a reorder point and available is below it."""
    return level.reorder_point > 0 and level.available < level.reorder_point
