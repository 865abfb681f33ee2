"""Threshold events derived from ledger entries: a level running out, or coming back.

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
    available = {key: level.available for key, level in before.items()}
    found: list[ThresholdCrossing] = []
    for entry in entries:
        key = entry.level.key
        previous, current = available.get(key, 0), entry.level.available
        if previous > 0 and current == 0:
            found.append(ThresholdCrossing(Threshold.OUT_OF_STOCK, entry, previous))
        elif previous == 0 and current > 0:
            found.append(ThresholdCrossing(Threshold.BACK_IN_STOCK, entry, previous))
        available[key] = current
    return found
