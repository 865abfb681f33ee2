"""Decide a batch of writes, in order, on the rows the batch read: plain Python.

The service gathers concurrent writes into one batch, reads every row they
may touch (a ``Snapshot``), and calls ``decide``. Each write is decided on
the state the writes before it in the batch left, with the rules of
``rules``; its outcome is its own (a result, an error, a replay), so a
refused or replayed write never changes what another write of the batch
gets. The ``Decision`` holds the outcomes and everything to write: final
levels, new reservations, state changes, ledger entries, request records.

Ledger entries carry sequence numbers relative to the batch (0, 1, ...);
the store turns them into positions when it knows the transaction's base
(``Decision.positioned``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from stockroom.common.errors import StockroomError
from stockroom.inventory.domain import errors, rules, stock_states
from stockroom.inventory.domain.model import (
    Adjustment,
    Command,
    Confirm,
    Expire,
    KitComponent,
    LevelChange,
    Movement,
    MovementKind,
    Receipt,
    Release,
    ReorderPointChange,
    Reservation,
    ReservationLine,
    ReservationState,
    Reserve,
    Result,
    SafetyStockChange,
    StateMove,
    StockDelta,
    StockKey,
    StockLevel,
    Transfer,
    TransferResult,
)

# Commands that name one level directly (and change only it).
OneLevel = Receipt | Adjustment | SafetyStockChange | StateMove | StockDelta | ReorderPointChange


class Keyed(Protocol):
    """A write's request id (AIP-155) and what it must match to be a replay."""

    @property
    def request_id(self) -> str: ...

    @property
    def method(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class Write:
    """One write of a batch: the command and its request key (None for the sweeper's)."""

    command: Command
    key: Keyed | None


@dataclass(frozen=True)
class Record:
    """A committed request record: who used the id, and the response it got."""

    method: str
    fingerprint: str
    response: bytes


@dataclass(frozen=True)
class Snapshot:
    """What a batch read: levels of every SKU it names, the reservations it names,
    the records of its request ids, and which of its SKUs and locations exist."""

    levels: Mapping[StockKey, StockLevel]
    reservations: Mapping[str, Reservation]
    records: Mapping[str, Record]
    items: frozenset[str]
    locations: frozenset[str]
    # Every kit among the SKUs named, flattened to the stocked items one kit takes
    # (whose levels ``levels`` holds too).
    kits: Mapping[str, tuple[KitComponent, ...]] = field(default_factory=dict)


# Outcomes: exactly one per write.


@dataclass(frozen=True)
class Done:
    result: Result


@dataclass(frozen=True)
class Failed:
    error: StockroomError


@dataclass(frozen=True)
class Replayed:
    """The request id was used before for the same request: answer what was recorded."""

    response: bytes


@dataclass(frozen=True)
class Reused:
    """The request id was used before for another request."""


Outcome = Done | Failed | Replayed | Reused


@dataclass(frozen=True)
class RecordToWrite:
    request_id: str
    method: str
    fingerprint: str
    # Index of the write whose (positioned) result is the recorded response.
    write: int


@dataclass
class Decision:
    outcomes: list[Outcome] = field(default_factory=list)
    # Every level the batch changes, as it is after the batch.
    levels: dict[StockKey, StockLevel] = field(default_factory=dict)
    reservations: list[Reservation] = field(default_factory=list)
    # Reservation id -> (new state, when), for reservations that existed before the batch.
    transitions: dict[str, tuple[ReservationState, datetime]] = field(default_factory=dict)
    entries: list[Movement] = field(default_factory=list)
    records: list[RecordToWrite] = field(default_factory=list)

    @property
    def writes_anything(self) -> bool:
        return bool(self.levels or self.reservations or self.transitions or self.records)

    def positioned(self, base: int) -> Decision:
        """The decision with ledger positions ``base + n`` instead of batch-relative ``n``."""
        return dataclasses.replace(
            self,
            outcomes=[
                Done(_shift(o.result, base)) if isinstance(o, Done) else o for o in self.outcomes
            ],
            entries=[dataclasses.replace(m, sequence=m.sequence + base) for m in self.entries],
        )


def _shift(result: Result, base: int) -> Result:
    if isinstance(result, LevelChange):
        return LevelChange(
            result.level,
            dataclasses.replace(result.movement, sequence=result.movement.sequence + base),
        )
    if isinstance(result, TransferResult):
        return dataclasses.replace(
            result,
            movements=tuple(
                dataclasses.replace(m, sequence=m.sequence + base) for m in result.movements
            ),
        )
    return result


def keys_touched(writes: Iterable[Write], snapshot: Snapshot | None = None) -> set[StockKey]:
    """The levels the writes name directly (receipts, counts, transfers, safety stock), and
    with ``snapshot`` those the named reservations hold."""
    keys: set[StockKey] = set()
    for write in writes:
        command = write.command
        if isinstance(command, OneLevel):
            keys.add(StockKey(command.sku, command.location_id))
        elif isinstance(command, Transfer):
            keys.add(StockKey(command.sku, command.from_location_id))
            keys.add(StockKey(command.sku, command.to_location_id))
        elif snapshot is not None and isinstance(command, Confirm | Release | Expire):
            held = snapshot.reservations.get(command.reservation_id)
            if held is not None:
                keys.update(a.key for a in held.allocations())
    return keys


def skus_named(writes: Iterable[Write]) -> set[str]:
    """Every SKU a write names (reservations: every line)."""
    skus: set[str] = set()
    for write in writes:
        command = write.command
        if isinstance(command, Reserve):
            skus.update(line.sku for line in command.request.lines)
        elif isinstance(command, OneLevel | Transfer):
            skus.add(command.sku)
    return skus


def locations_named(writes: Iterable[Write]) -> set[str]:
    locations: set[str] = set()
    for write in writes:
        command = write.command
        if isinstance(command, Reserve):
            locations.update(command.request.location_ids)
        elif isinstance(command, OneLevel):
            locations.add(command.location_id)
        elif isinstance(command, Transfer):
            locations.update((command.from_location_id, command.to_location_id))
    return locations


def reservations_named(writes: Iterable[Write]) -> set[str]:
    return {
        w.command.reservation_id
        for w in writes
        if isinstance(w.command, Confirm | Release | Expire)
    }


def decide(writes: Sequence[Write], snapshot: Snapshot, now: datetime) -> Decision:
    """Every write's outcome, in order, and what to write for the successful ones."""
    return _Batch(snapshot, now).run(writes)


class _Batch:
    def __init__(self, snapshot: Snapshot, now: datetime) -> None:
        self.snapshot = snapshot
        self.now = now
        self.levels: dict[StockKey, StockLevel] = dict(snapshot.levels)
        self.reservations: dict[str, Reservation] = dict(snapshot.reservations)
        self.decision = Decision()
        # Request ids decided in this batch: id -> (method, fingerprint, write index).
        self.seen: dict[str, tuple[str, str, int]] = {}

    def run(self, writes: Sequence[Write]) -> Decision:
        for index, write in enumerate(writes):
            self.decision.outcomes.append(self.one(index, write))
        return self.decision

    def one(self, index: int, write: Write) -> Outcome:
        key = write.key
        if key is not None:
            recorded = self.snapshot.records.get(key.request_id)
            if recorded is not None:
                if (recorded.method, recorded.fingerprint) != (key.method, key.fingerprint):
                    return Reused()
                return Replayed(recorded.response)
            earlier = self.seen.get(key.request_id)
            if earlier is not None:
                if earlier[:2] != (key.method, key.fingerprint):
                    return Reused()
                first = self.decision.outcomes[earlier[2]]
                if isinstance(first, Done):
                    return first  # a duplicate within the batch: the same answer, applied once
        # Decide on copies: a write that fails leaves the batch's state as it was.
        mark = (dict(self.levels), dict(self.reservations), len(self.decision.entries))
        saved = (dict(self.decision.levels), list(self.decision.reservations))
        saved_transitions = dict(self.decision.transitions)
        try:
            result = self.apply(write)
        except StockroomError as error:
            self.levels, self.reservations = mark[0], mark[1]
            del self.decision.entries[mark[2] :]
            self.decision.levels, self.decision.reservations = saved
            self.decision.transitions = saved_transitions
            return Failed(error)
        if key is not None:
            self.seen[key.request_id] = (key.method, key.fingerprint, index)
            self.decision.records.append(
                RecordToWrite(key.request_id, key.method, key.fingerprint, index)
            )
        return Done(result)

    # One method per command; each raises a StockroomError before changing anything
    # it cannot finish.

    def apply(self, write: Write) -> Result:
        command = write.command
        request_id = write.key.request_id if write.key is not None else ""
        if isinstance(command, Receipt):
            return self.receive(command, request_id)
        if isinstance(command, Adjustment | StockDelta):
            return self.adjust(command, request_id)
        if isinstance(command, StateMove):
            return self.move_state(command, request_id)
        if isinstance(command, ReorderPointChange):
            return self.set_reorder_point(command, request_id)
        if isinstance(command, Transfer):
            return self.transfer(command, request_id)
        if isinstance(command, SafetyStockChange):
            return self.set_safety_stock(command, request_id)
        if isinstance(command, Reserve):
            return self.reserve(command, request_id)
        if isinstance(command, Confirm):
            return self.confirm(command, request_id)
        if isinstance(command, Release):
            return self.release(command, request_id)
        self.expire(command)
        return None

    def receive(self, receipt: Receipt, request_id: str) -> LevelChange:
        level = self.known_level(receipt.sku, receipt.location_id)
        movement = self.move(
            level,
            MovementKind.RECEIPT,
            on_hand=receipt.quantity,
            reason=receipt.reason,
            reference=receipt.reference,
            request_id=request_id,
        )
        return LevelChange(movement.level, movement)

    def adjust(self, adjustment: Adjustment | StockDelta, request_id: str) -> LevelChange:
        level = self.known_level(adjustment.sku, adjustment.location_id)
        delta = rules.adjustment_delta(level, adjustment)
        movement = self.move(
            level,
            MovementKind.ADJUSTMENT,
            on_hand=delta,
            reason=adjustment.reason,
            reference=adjustment.reference,
            request_id=request_id,
        )
        return LevelChange(movement.level, movement)

    def move_state(self, move: StateMove, request_id: str) -> LevelChange:
        level = self.known_level(move.sku, move.location_id)
        change = stock_states.deltas(level, move)
        movement = self.move(
            level,
            change.kind,
            on_hand=change.on_hand,
            damaged=change.damaged,
            quality_control=change.quality_control,
            reason=move.reason,
            reference=move.reference,
            request_id=request_id,
        )
        return LevelChange(movement.level, movement)

    def set_reorder_point(self, change: ReorderPointChange, request_id: str) -> LevelChange:
        level = self.known_level(change.sku, change.location_id)
        rules.check_seen(level, None, change.etag)
        level = dataclasses.replace(level, reorder_point=change.reorder_point)
        movement = self.move(level, MovementKind.REORDER_POINT, request_id=request_id)
        return LevelChange(movement.level, movement)

    def transfer(self, transfer: Transfer, request_id: str) -> TransferResult:
        self.require_known([transfer.sku], [transfer.from_location_id, transfer.to_location_id])
        self.require_stocked(transfer.sku)
        source = self.level(StockKey(transfer.sku, transfer.from_location_id))
        rules.check_transfer(source, transfer.quantity)
        out = self.move(
            source,
            MovementKind.TRANSFER_OUT,
            on_hand=-transfer.quantity,
            reason=transfer.reason,
            reference=transfer.reference,
            request_id=request_id,
        )
        target = self.level(StockKey(transfer.sku, transfer.to_location_id))
        into = self.move(
            target,
            MovementKind.TRANSFER_IN,
            on_hand=transfer.quantity,
            reason=transfer.reason,
            reference=transfer.reference,
            request_id=request_id,
        )
        return TransferResult(out.level, into.level, (out, into))

    def set_safety_stock(self, change: SafetyStockChange, request_id: str) -> LevelChange:
        level = self.known_level(change.sku, change.location_id)
        rules.check_safety_stock_etag(level, change)
        level = dataclasses.replace(level, safety_stock=change.safety_stock)
        movement = self.move(level, MovementKind.SAFETY_STOCK, request_id=request_id)
        return LevelChange(movement.level, movement)

    def reserve(self, command: Reserve, request_id: str) -> Reservation:
        request = command.request
        self.require_known([line.sku for line in request.lines], request.location_ids)
        kits = {
            line.sku: self.snapshot.kits[line.sku]
            for line in request.lines
            if line.sku in self.snapshot.kits
        }
        skus = {line.sku for line in request.lines} | {
            c.sku for leaves in kits.values() for c in leaves
        }
        wanted = set(request.location_ids)
        candidates = [
            level
            for key, level in self.levels.items()
            if key.sku in skus and (not wanted or key.location_id in wanted)
        ]
        holds = rules.allocate_lines(request.lines, candidates, kits)
        reservation = Reservation(
            reservation_id=command.reservation_id,
            state=ReservationState.ACTIVE,
            lines=tuple(
                ReservationLine(line.sku, line.quantity, held.allocations, held.components)
                for line, held in zip(request.lines, holds, strict=True)
            ),
            reference=request.reference,
            create_time=self.now,
            expire_time=self.now + request.ttl,
            update_time=self.now,
        )
        for allocation in sorted(reservation.allocations(), key=lambda a: a.key):
            self.move(
                self.levels[allocation.key],
                MovementKind.RESERVATION,
                reserved=allocation.quantity,
                reference=request.reference,
                reservation_id=reservation.reservation_id,
                request_id=request_id,
            )
        self.reservations[reservation.reservation_id] = reservation
        self.decision.reservations.append(reservation)
        return reservation

    def confirm(self, command: Confirm, request_id: str) -> Reservation:
        reservation = self.reservation(command.reservation_id)
        if rules.confirm_transition(reservation, self.now) is rules.Transition.ALREADY_DONE:
            return reservation
        return self.give_back(
            reservation, ReservationState.CONFIRMED, "", command.reference, request_id
        )

    def release(self, command: Release, request_id: str) -> Reservation:
        reservation = self.reservation(command.reservation_id)
        if rules.release_transition(reservation) is rules.Transition.ALREADY_DONE:
            return reservation
        return self.give_back(
            reservation, ReservationState.RELEASED, command.reason, "", request_id
        )

    def expire(self, command: Expire) -> None:
        reservation = self.reservations.get(command.reservation_id)
        if reservation is not None and rules.is_due(reservation, self.now):
            self.give_back(reservation, ReservationState.EXPIRED, "", "", "")

    def give_back(
        self,
        reservation: Reservation,
        state: ReservationState,
        reason: str,
        reference: str,
        request_id: str,
    ) -> Reservation:
        kind, ships = rules.GIVE_BACK[state]
        for allocation in sorted(reservation.allocations(), key=lambda a: a.key):
            self.move(
                self.levels[allocation.key],
                kind,
                on_hand=-allocation.quantity if ships else 0,
                reserved=-allocation.quantity,
                reason=reason,
                reference=reference,
                reservation_id=reservation.reservation_id,
                request_id=request_id,
            )
        done = dataclasses.replace(reservation, state=state, update_time=self.now)
        self.reservations[reservation.reservation_id] = done
        new = [r for r in self.decision.reservations if r.reservation_id != done.reservation_id]
        if len(new) != len(self.decision.reservations):
            self.decision.reservations = [*new, done]
        else:
            self.decision.transitions[done.reservation_id] = (state, self.now)
        return done

    # Helpers.

    def require_known(self, skus: Iterable[str], location_ids: Iterable[str]) -> None:
        """NotFound for the first unknown SKU, then location, in sorted order."""
        for sku in sorted(set(skus)):
            if sku not in self.snapshot.items:
                raise errors.item_not_found(sku)
        for location_id in sorted(set(location_ids)):
            if location_id not in self.snapshot.locations:
                raise errors.location_not_found(location_id)

    def known_level(self, sku: str, location_id: str) -> StockLevel:
        self.require_known([sku], [location_id])
        self.require_stocked(sku)
        return self.level(StockKey(sku, location_id))

    def require_stocked(self, sku: str) -> None:
        """A kit has no levels: its stock is its components'."""
        if sku in self.snapshot.kits:
            raise errors.kit_holds_no_stock(sku)

    def level(self, key: StockKey) -> StockLevel:
        """The level at ``key``; one not created yet is empty."""
        return self.levels.get(key) or empty_level(key)

    def reservation(self, reservation_id: str) -> Reservation:
        found = self.reservations.get(reservation_id)
        if found is None:
            raise errors.reservation_not_found(reservation_id)
        return found

    def move(
        self,
        level: StockLevel,
        kind: MovementKind,
        *,
        on_hand: int = 0,
        reserved: int = 0,
        damaged: int = 0,
        quality_control: int = 0,
        reason: str = "",
        reference: str = "",
        reservation_id: str = "",
        request_id: str = "",
    ) -> Movement:
        """Append one ledger entry and the level after it (its version moves by one)."""
        after = dataclasses.replace(
            level,
            on_hand=level.on_hand + on_hand,
            reserved=level.reserved + reserved,
            damaged=level.damaged + damaged,
            quality_control=level.quality_control + quality_control,
            version=level.version + 1,
        )
        rules.check_level(after)
        movement = Movement(
            sequence=len(self.decision.entries),
            kind=kind,
            on_hand_delta=on_hand,
            reserved_delta=reserved,
            level=after,
            reason=reason,
            reference=reference,
            reservation_id=reservation_id,
            request_id=request_id,
            create_time=self.now,
            damaged_delta=damaged,
            quality_control_delta=quality_control,
        )
        self.levels[after.key] = after
        self.decision.levels[after.key] = after
        self.decision.entries.append(movement)
        return movement


def empty_level(key: StockKey) -> StockLevel:
    return StockLevel(key.sku, key.location_id, 0, 0, 0, 0)


def same_levels(
    keys: Iterable[StockKey],
    first: Mapping[StockKey, StockLevel],
    second: Mapping[StockKey, StockLevel],
) -> bool:
    """Whether two reads agree on ``keys`` (a level not created yet equals an empty one)."""
    return all(first.get(k, empty_level(k)) == second.get(k, empty_level(k)) for k in keys)
