"""Stock states: which moves between sellable, damaged and quality control are allowed,
what each does to a level, and when a level cannot give the units.

Sellable units are ``on_hand``; damaged and quality-control units are counted
apart on the same level and are never available. A move takes units out of
one state and puts them into another (or writes damaged units off): one ledger
entry, named by the state the units go to. Reserved units never leave the
sellable state: ``reserved <= on_hand`` always holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from stockroom.common.errors import FailedPrecondition, PreconditionViolation
from stockroom.inventory.domain.model import DOMAIN, MovementKind, StateMove, StockLevel, StockState

# The states units can be taken from, and those they can go to.
SOURCES = (StockState.SELLABLE, StockState.DAMAGED, StockState.QUALITY_CONTROL)
DESTINATIONS = (*SOURCES, StockState.WRITTEN_OFF)

KIND_BY_DESTINATION = {
    StockState.SELLABLE: MovementKind.TO_SELLABLE,
    StockState.DAMAGED: MovementKind.TO_DAMAGED,
    StockState.QUALITY_CONTROL: MovementKind.TO_QC,
    StockState.WRITTEN_OFF: MovementKind.WRITE_OFF,
}


def transition_problem(from_state: StockState | None, to_state: StockState | None) -> str | None:
    """Why a move between these states is not allowed, or None when it is.

    Written-off units are gone, so nothing moves out of WRITTEN_OFF; only damaged
    units are written off (sellable or quality-control ones are moved to damaged
    first, so the ledger says why they became worthless).
    """
    if from_state not in SOURCES:
        return "must be SELLABLE, DAMAGED or QUALITY_CONTROL"
    if to_state not in DESTINATIONS:
        return "must be SELLABLE, DAMAGED, QUALITY_CONTROL or WRITTEN_OFF"
    if from_state == to_state:
        return "must differ from from_state"
    if to_state is StockState.WRITTEN_OFF and from_state is not StockState.DAMAGED:
        return "only DAMAGED units can be written off; move them to DAMAGED first"
    return None


@dataclass(frozen=True)
class StateDeltas:
    """A move's changes to the level's three counted states, and its ledger kind."""

    kind: MovementKind
    on_hand: int = 0
    damaged: int = 0
    quality_control: int = 0


def deltas(level: StockLevel, move: StateMove) -> StateDeltas:
    """The changes ``move`` makes to ``level``, or FAILED_PRECONDITION when the level does
    not hold the units in ``move.from_state`` (sellable: not the unreserved units)."""
    _check_source(level, move)
    change = {StockState.SELLABLE: 0, StockState.DAMAGED: 0, StockState.QUALITY_CONTROL: 0}
    change[move.from_state] -= move.quantity
    if move.to_state in change:
        change[move.to_state] += move.quantity
    return StateDeltas(
        KIND_BY_DESTINATION[move.to_state],
        on_hand=change[StockState.SELLABLE],
        damaged=change[StockState.DAMAGED],
        quality_control=change[StockState.QUALITY_CONTROL],
    )


def units_in(level: StockLevel, state: StockState) -> int:
    if state is StockState.SELLABLE:
        return level.on_hand
    if state is StockState.DAMAGED:
        return level.damaged
    if state is StockState.QUALITY_CONTROL:
        return level.quality_control
    return 0


def _check_source(level: StockLevel, move: StateMove) -> None:
    where = f"{level.sku} at {level.location_id}"
    held = units_in(level, move.from_state)
    if move.quantity > held:
        state = move.from_state.value.lower()
        raise _refused(
            "INSUFFICIENT_STOCK",
            level.sku,
            f"cannot move {move.quantity} {state} units of {where}: {held} are {state}",
        )
    if move.from_state is StockState.SELLABLE and move.quantity > level.unreserved:
        raise _refused(
            "STOCK_RESERVED",
            level.sku,
            f"cannot move {move.quantity} sellable units of {where}: {level.reserved} of its"
            f" {level.on_hand} units are reserved, so at most {level.unreserved} can move;"
            " release or confirm reservations first",
        )


def _refused(reason: str, sku: str, message: str) -> FailedPrecondition:
    return FailedPrecondition(
        message,
        reason=reason,
        domain=DOMAIN,
        precondition_violations=[PreconditionViolation(reason, sku, message)],
    )
