"""Deciding builds levels and ledger entries field by field (a hot path): nothing a
field holds may be lost on the way, whatever fields the model grows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from stockroom.inventory.domain import decide as domain
from stockroom.inventory.domain.decide import Done, Snapshot, Write
from stockroom.inventory.domain.model import (
    LevelChange,
    Line,
    Movement,
    MovementKind,
    Receipt,
    ReservationRequest,
    Reserve,
    StockKey,
    StockLevel,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def distinct_values(cls: type, **given: object) -> dict[str, object]:
    """A value for every field of ``cls`` that differs from its default and from the
    other fields' (ints count up), so a field copied into another's place shows."""
    values: dict[str, object] = {}
    for number, f in enumerate(dataclasses.fields(cls), start=11):
        if f.name in given:
            values[f.name] = given[f.name]
        elif f.type in ("int", int):
            values[f.name] = number
        elif f.type in ("str", str):
            values[f.name] = f"{f.name}-value"
    return values


def holding(level: StockLevel) -> Snapshot:
    """What a batch reads when it names only ``level``'s SKU and location."""
    return Snapshot(
        levels={level.key: level},
        reservations={},
        records={},
        items=frozenset({level.sku}),
        locations=frozenset({level.location_id}),
    )


def test_an_entry_shifted_keeps_every_field_but_its_position() -> None:
    level = StockLevel(**distinct_values(StockLevel))  # type: ignore[arg-type]
    entry = Movement(
        **distinct_values(  # type: ignore[arg-type]
            Movement, kind=MovementKind.RECEIPT, level=level, create_time=NOW
        )
    )
    assert len(distinct_values(Movement, kind=0, level=0, create_time=0)) == len(
        dataclasses.fields(Movement)
    )

    assert entry.shifted(1000) == dataclasses.replace(entry, sequence=entry.sequence + 1000)


def test_a_level_moved_by_a_receipt_keeps_every_field_it_does_not_change() -> None:
    level = StockLevel(**distinct_values(StockLevel, sku="MUG", location_id="WH-1"))  # type: ignore[arg-type]
    assert len(distinct_values(StockLevel)) == len(dataclasses.fields(StockLevel))
    snapshot = holding(level)

    decision = domain.decide([Write(Receipt("MUG", "WH-1", 5, "", ""), None)], snapshot, NOW)

    [outcome] = decision.outcomes
    assert isinstance(outcome, Done)
    assert isinstance(outcome.result, LevelChange)
    after = decision.levels[StockKey("MUG", "WH-1")]
    assert after == dataclasses.replace(level, on_hand=level.on_hand + 5, version=level.version + 1)


def test_a_positioned_decision_moves_every_entry_and_answer_by_the_base() -> None:
    level = StockLevel("MUG", "WH-1", on_hand=10, reserved=0, safety_stock=0, version=3)
    snapshot = holding(level)
    reserve = Reserve(ReservationRequest((Line("MUG", 2),), timedelta(minutes=5), "", ()), "r-1")
    writes = [Write(Receipt("MUG", "WH-1", 5, "", ""), None), Write(reserve, None)]

    decision = domain.decide(writes, snapshot, NOW)
    positioned = decision.positioned(500)

    assert [m.sequence for m in decision.entries] == [0, 1]
    assert positioned.entries == [m.shifted(500) for m in decision.entries]
    [received, _] = positioned.outcomes
    assert isinstance(received, Done)
    assert isinstance(received.result, LevelChange)
    assert received.result.movement == positioned.entries[0]
