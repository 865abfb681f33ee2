"""Many stock changes at once: each row through the batched writes on its own, with its
own request id and its own outcome.

A row is decided like any single write (``domain.decide``): a refused row
changes nothing and never fails another, and a row sent again with the same
request id is answered from its record. Only a failure that is no row's
fault (the database unreachable, a bug) fails the whole call; the rows that
were applied before it stay applied, and a retry with the same request ids
applies each of the others once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from stockroom.common.db import RequestKey
from stockroom.common.errors import StockroomError
from stockroom.inventory.domain.model import Adjustment, LevelChange, StockDelta
from stockroom.inventory.service.writes import StockWrites

# Rows per BatchAdjustStock call and per ImportStock message.
MAX_ROWS = 1000
# Codes that say the call could not be carried out, not that the row is wrong.
NOT_THE_ROWS_FAULT = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "UNKNOWN", "CANCELLED", "RESOURCE_EXHAUSTED"}
)


@dataclass(frozen=True)
class Row:
    """One row: its command and request key, or why it was refused before any write."""

    index: int
    request_id: str
    change: Adjustment | StockDelta | None
    key: RequestKey | None
    refused: StockroomError | None = None


@dataclass(frozen=True)
class RowOutcome:
    index: int
    request_id: str
    change: LevelChange | None
    error: StockroomError | None


class BulkAdjustments:
    def __init__(self, writes: StockWrites) -> None:
        self._writes = writes

    async def apply(self, rows: Sequence[Row]) -> list[RowOutcome]:
        """Every row's outcome, in row order. Rows go to the batched writes together, so
        they share batches (and transactions) but never each other's fate."""
        valid = [r for r in rows if r.change is not None]
        answers = await asyncio.gather(
            *(self._writes.submit(r.change, r.key) for r in valid if r.change is not None),
            return_exceptions=True,
        )
        by_index: dict[int, object] = {
            row.index: answer for row, answer in zip(valid, answers, strict=True)
        }
        for failure in answers:
            if isinstance(failure, StockroomError) and failure.code in NOT_THE_ROWS_FAULT:
                raise failure
            if isinstance(failure, BaseException) and not isinstance(failure, StockroomError):
                raise failure
        outcomes = []
        for row in rows:
            outcome = by_index.get(row.index, row.refused)
            if isinstance(outcome, LevelChange):
                outcomes.append(RowOutcome(row.index, row.request_id, outcome, None))
            else:
                assert isinstance(outcome, StockroomError), outcome
                outcomes.append(RowOutcome(row.index, row.request_id, None, outcome))
        return outcomes
