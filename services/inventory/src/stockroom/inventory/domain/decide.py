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

Backorders: a write that makes units available at a level where backorders
wait (a receipt, a transfer in, a count, less safety stock, a release or an
expiry) fills them there, first come first served (``backorders.fills``), in
the same decision; so no unit is ever available at a level while a backorder
waits there. The snapshot holds every reservation waiting at the SKUs such
writes touch (``Snapshot.queued``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from stockroom.common.errors import StockroomError
from stockroom.inventory.domain import backorders, errors, incoming, lifecycle, rules, stock_states
from stockroom.inventory.domain.model import (
    Adjustment,
    Allocation,
    Command,
    Confirm,
    ExpectedReceiptChange,
    Expire,
    Extend,
    KitComponent,
    LevelChange,
    Movement,
    MovementKind,
    PartialLine,
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
from stockroom.inventory.domain.supply import (
    Backorder,
    CancelExpectedReceipt,
    CreateExpectedReceipt,
    ExpectedReceipt,
    ExpectedReceiptState,
    InventoryPolicy,
    SetPolicy,
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
    # Inventory policies of the SKUs it locks (StockKey(sku, "") for SKU-wide ones).
    policies: Mapping[StockKey, InventoryPolicy] = field(default_factory=dict)
    # The expected receipts it names.
    expected_receipts: Mapping[str, ExpectedReceipt] = field(default_factory=dict)
    # Active reservations with backorders waiting at the levels of ``queued_skus``: the
    # SKUs whose units the batch may make available (so whose queues it may fill).
    queued: Mapping[str, Reservation] = field(default_factory=dict)
    queued_skus: frozenset[str] = frozenset()
    # Which of the SKUs it reserves are deactivated (SKU -> the deactivation's reason).
    inactive_items: Mapping[str, str] = field(default_factory=dict)


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
    # Reservations that existed before the batch and changed in it (state, expiry,
    # settled units), by id, as they are after the batch.
    updated: dict[str, Reservation] = field(default_factory=dict)
    entries: list[Movement] = field(default_factory=list)
    records: list[RecordToWrite] = field(default_factory=list)
    # Policies the batch sets or charges, as they are after it; the new ones among them.
    policies: dict[StockKey, InventoryPolicy] = field(default_factory=dict)
    policies_created: set[StockKey] = field(default_factory=set)
    # Expected receipts the batch creates or changes, as they are after it; the new ones.
    expected_receipts: dict[str, ExpectedReceipt] = field(default_factory=dict)
    expected_receipts_created: set[str] = field(default_factory=set)
    # Rows of reservations that existed before the batch, changed by fills and give-backs:
    # (reservation id, sku, location) -> (line number, units) and -> the backorder after.
    allocation_writes: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)
    backorder_writes: dict[tuple[str, str, str], Backorder] = field(default_factory=dict)

    @property
    def writes_anything(self) -> bool:
        return bool(
            self.levels
            or self.reservations
            or self.updated
            or self.records
            or self.policies
            or self.expected_receipts
        )

    @property
    def writes_supply(self) -> bool:
        """Whether it writes policies, expected receipts, backorders or changes allocations
        (which the one-statement apply does not carry: such batches take the transaction)."""
        return bool(
            self.policies
            or self.expected_receipts
            or self.allocation_writes
            or self.backorder_writes
            or any(r.backorders() for r in self.reservations)
        )

    def positioned(self, base: int) -> Decision:
        """The decision with ledger positions ``base + n`` instead of batch-relative ``n``."""
        return dataclasses.replace(
            self,
            outcomes=[
                Done(_shift(o.result, base)) if isinstance(o, Done) else o for o in self.outcomes
            ],
            entries=[m.shifted(base) for m in self.entries],
        )


def _shift(result: Result, base: int) -> Result:
    def moved(m: Movement) -> Movement:
        return m.shifted(base)

    if isinstance(result, LevelChange):
        return dataclasses.replace(
            result, movement=moved(result.movement), fills=tuple(map(moved, result.fills))
        )
    if isinstance(result, TransferResult):
        return dataclasses.replace(
            result,
            movements=tuple(map(moved, result.movements)),
            fills=tuple(map(moved, result.fills)),
        )
    if isinstance(result, ExpectedReceiptChange) and result.movement is not None:
        return dataclasses.replace(result, movement=moved(result.movement))
    return result


def keys_touched(writes: Iterable[Write], snapshot: Snapshot | None = None) -> set[StockKey]:
    """The levels the writes name directly (receipts, counts, transfers, safety stock), and
    with ``snapshot`` those the named reservations hold."""
    keys: set[StockKey] = set()
    for write in writes:
        command = write.command
        if isinstance(command, OneLevel | CreateExpectedReceipt):
            keys.add(StockKey(command.sku, command.location_id))
        elif isinstance(command, SetPolicy) and command.location_id:
            # A location's policy makes it a place backorders may wait: it gets a level.
            keys.add(StockKey(command.sku, command.location_id))
        elif isinstance(command, Transfer):
            keys.add(StockKey(command.sku, command.from_location_id))
            keys.add(StockKey(command.sku, command.to_location_id))
        elif snapshot is not None and isinstance(command, Confirm | Release | Expire):
            held = snapshot.reservations.get(command.reservation_id)
            if held is not None:
                keys.update(a.key for a in held.allocations())
                keys.update(StockKey(b.sku, b.location_id) for b in held.backorders())
        elif snapshot is not None and isinstance(command, CancelExpectedReceipt):
            expected = snapshot.expected_receipts.get(command.expected_receipt_id)
            if expected is not None:
                keys.add(StockKey(expected.sku, expected.location_id))
    return keys


def skus_named(writes: Iterable[Write]) -> set[str]:
    """Every SKU a write names (reservations: every line)."""
    skus: set[str] = set()
    for write in writes:
        command = write.command
        if isinstance(command, Reserve):
            skus.update(line.sku for line in command.request.lines)
        elif isinstance(command, OneLevel | Transfer | SetPolicy | CreateExpectedReceipt):
            skus.add(command.sku)
    return skus


def locations_named(writes: Iterable[Write]) -> set[str]:
    locations: set[str] = set()
    for write in writes:
        command = write.command
        if isinstance(command, Reserve):
            locations.update(command.request.location_ids)
        elif isinstance(command, OneLevel | CreateExpectedReceipt | SetPolicy):
            locations.add(command.location_id)
        elif isinstance(command, Transfer):
            locations.update((command.from_location_id, command.to_location_id))
    locations.discard("")  # a SKU-wide policy names no location
    return locations


def reservations_named(writes: Iterable[Write]) -> set[str]:
    return {
        w.command.reservation_id
        for w in writes
        if isinstance(w.command, Confirm | Release | Expire | Extend)
    }


def reserved_skus(writes: Iterable[Write]) -> set[str]:
    """The SKUs the batch's new reservations name (whose active state it must read)."""
    return {
        line.sku
        for w in writes
        if isinstance(w.command, Reserve)
        for line in w.command.request.lines
    }


def expected_receipts_named(writes: Iterable[Write]) -> set[str]:
    named: set[str] = set()
    for write in writes:
        command = write.command
        if isinstance(command, CreateExpectedReceipt | CancelExpectedReceipt | Receipt):
            named.add(command.expected_receipt_id)
    named.discard("")  # a receipt against no expected receipt
    return named


def skus_freed(writes: Iterable[Write], reservations: Mapping[str, Reservation]) -> set[str]:
    """SKUs at whose levels the writes may make units available, and so fill backorders:
    receipts, counts and bulk adjustments, moves back to sellable, transfers, safety stock,
    and the reservations releases and expiries give back."""
    skus: set[str] = set()
    for write in writes:
        command = write.command
        if isinstance(
            command, Receipt | Adjustment | StockDelta | StateMove | SafetyStockChange | Transfer
        ):
            skus.add(command.sku)
        elif isinstance(command, Release | Expire):
            held = reservations.get(command.reservation_id)
            if held is not None:
                skus.update(a.sku for a in held.allocations())
    return skus


def skus_held(reservations: Iterable[Reservation]) -> set[str]:
    """Every SKU the reservations hold or wait for."""
    return {a.sku for r in reservations for a in r.allocations()} | {
        b.sku for r in reservations for b in r.backorders()
    }


def decide(writes: Sequence[Write], snapshot: Snapshot, now: datetime) -> Decision:
    """Every write's outcome, in order, and what to write for the successful ones."""
    return _Batch(snapshot, now).run(writes)


class _Batch:
    def __init__(self, snapshot: Snapshot, now: datetime) -> None:
        self.snapshot = snapshot
        self.now = now
        self.levels: dict[StockKey, StockLevel] = dict(snapshot.levels)
        # A reservation both named and waiting was read twice; the queue's read came last.
        self.reservations: dict[str, Reservation] = {**snapshot.reservations, **snapshot.queued}
        self.policies: dict[StockKey, InventoryPolicy] = dict(snapshot.policies)
        self.expected: dict[str, ExpectedReceipt] = dict(snapshot.expected_receipts)
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
        saved = self.save()
        try:
            result = self.apply(write)
        except StockroomError as error:
            self.restore(saved)
            return Failed(error)
        if key is not None:
            self.seen[key.request_id] = (key.method, key.fingerprint, index)
            self.decision.records.append(
                RecordToWrite(key.request_id, key.method, key.fingerprint, index)
            )
        return Done(result)

    def save(self) -> tuple[object, ...]:
        d = self.decision
        return (
            dict(self.levels),
            dict(self.reservations),
            dict(self.policies),
            dict(self.expected),
            len(d.entries),
            dict(d.levels),
            list(d.reservations),
            dict(d.updated),
            dict(d.policies),
            set(d.policies_created),
            dict(d.expected_receipts),
            set(d.expected_receipts_created),
            dict(d.allocation_writes),
            dict(d.backorder_writes),
        )

    def restore(self, saved: tuple[object, ...]) -> None:
        d = self.decision
        (
            self.levels,
            self.reservations,
            self.policies,
            self.expected,
            entries,
            d.levels,
            d.reservations,
            d.updated,
            d.policies,
            d.policies_created,
            d.expected_receipts,
            d.expected_receipts_created,
            d.allocation_writes,
            d.backorder_writes,
        ) = saved  # type: ignore[assignment]
        assert isinstance(entries, int)
        del d.entries[entries:]

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
        if isinstance(command, SetPolicy):
            return self.set_policy(command)
        if isinstance(command, CreateExpectedReceipt):
            return self.create_expected(command, request_id)
        if isinstance(command, CancelExpectedReceipt):
            return self.cancel_expected(command, request_id)
        if isinstance(command, Extend):
            return self.extend(command)
        self.expire(command)
        return None

    def receive(self, receipt: Receipt, request_id: str) -> LevelChange:
        level = self.known_level(receipt.sku, receipt.location_id)
        expected, settled = None, 0
        if receipt.expected_receipt_id:
            expected, settled = incoming.receive_against(
                self.expected_receipt(receipt.expected_receipt_id),
                receipt.sku,
                receipt.location_id,
                receipt.quantity,
                self.now,
            )
        movement = self.move(
            level,
            MovementKind.RECEIPT,
            on_hand=receipt.quantity,
            incoming=-settled,
            reason=receipt.reason,
            reference=receipt.reference,
            request_id=request_id,
            expected_receipt_id=receipt.expected_receipt_id,
        )
        if expected is not None:
            self.put_expected(expected)
        fills = self.fill(level.key, request_id)
        return LevelChange(self.levels[level.key], movement, fills, expected)

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
        fills = self.fill(level.key, request_id)
        return LevelChange(self.levels[level.key], movement, fills)

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
        fills = self.fill(level.key, request_id)  # units back to sellable fill what waits
        return LevelChange(self.levels[level.key], movement, fills)

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
        fills = self.fill(target.key, request_id)
        return TransferResult(out.level, self.levels[target.key], (out, into), fills)

    def set_safety_stock(self, change: SafetyStockChange, request_id: str) -> LevelChange:
        level = self.known_level(change.sku, change.location_id)
        rules.check_safety_stock_etag(level, change)
        level = dataclasses.replace(level, safety_stock=change.safety_stock)
        movement = self.move(level, MovementKind.SAFETY_STOCK, request_id=request_id)
        fills = self.fill(level.key, request_id)
        return LevelChange(self.levels[level.key], movement, fills)

    def reserve(self, command: Reserve, request_id: str) -> Reservation:
        request = command.request
        self.require_known([line.sku for line in request.lines], request.location_ids)
        rules.check_active([line.sku for line in request.lines], self.snapshot.inactive_items)
        kits = {
            line.sku: self.snapshot.kits[line.sku]
            for line in request.lines
            if line.sku in self.snapshot.kits
        }
        skus = {line.sku for line in request.lines} | {
            c.sku for leaves in kits.values() for c in leaves
        }
        candidates = rules.promisable(
            (level for key, level in self.levels.items() if key.sku in skus),
            request.location_ids,
        )
        holds, placements = backorders.allocate(
            request.lines, candidates, kits, self.policies, self.now
        )
        lines = [
            ReservationLine(line.sku, line.quantity, held.allocations, held.components)
            for line, held in zip(request.lines, holds, strict=True)
        ]
        for allocation in sorted((a for line in lines for a in line.held()), key=lambda a: a.key):
            self.move(
                self.levels[allocation.key],
                MovementKind.RESERVATION,
                reserved=allocation.quantity,
                reference=request.reference,
                reservation_id=command.reservation_id,
                request_id=request_id,
            )
        waiting = [
            self.backorder(placement, command, request_id)
            for placement in sorted(placements, key=lambda p: (p.sku, p.location_id))
        ]
        reservation = Reservation(
            reservation_id=command.reservation_id,
            state=ReservationState.ACTIVE,
            lines=tuple(
                dataclasses.replace(line, backorders=tuple(b for b in waiting if b.sku == line.sku))
                if waiting
                else line
                for line in lines
            ),
            reference=request.reference,
            create_time=self.now,
            expire_time=self.now + request.ttl,
            update_time=self.now,
            version=1,
        )
        self.reservations[reservation.reservation_id] = reservation
        self.decision.reservations.append(reservation)
        return reservation

    def backorder(
        self, placement: backorders.Placement, command: Reserve, request_id: str
    ) -> Backorder:
        """Charge the placement's policy and record the units as waiting at its level."""
        key = backorders.policy_key(placement.sku, placement.policy_location)
        self.put_policy(backorders.charge(self.policies[key], placement.quantity))
        movement = self.move(
            self.level(StockKey(placement.sku, placement.location_id)),
            MovementKind.PREORDER if placement.preorder else MovementKind.BACKORDER,
            backordered=placement.quantity,
            reference=command.request.reference,
            reservation_id=command.reservation_id,
            request_id=request_id,
        )
        return Backorder(
            placement.sku,
            placement.location_id,
            placement.quantity,
            filled=0,
            cancelled=0,
            preorder=placement.preorder,
            policy_location=placement.policy_location,
            queue_position=movement.level.version,
        )

    def confirm(self, command: Confirm, request_id: str) -> Reservation:
        reservation = self.reservation(command.reservation_id)
        partial = bool(command.lines)
        transition = rules.confirm_transition(reservation, self.now, partial=partial)
        if transition is rules.Transition.ALREADY_DONE:
            return reservation
        if not partial:  # a part ships held units only; what waits keeps waiting
            backorders.check_confirmable(reservation)
        return self.give_back(
            reservation,
            ReservationState.CONFIRMED,
            command.lines,
            "",
            command.reference,
            request_id,
        )

    def release(self, command: Release, request_id: str) -> Reservation:
        reservation = self.reservation(command.reservation_id)
        transition = rules.release_transition(reservation, partial=bool(command.lines))
        if transition is rules.Transition.ALREADY_DONE:
            return reservation
        done = self.give_back(
            reservation, ReservationState.RELEASED, command.lines, command.reason, "", request_id
        )
        self.fill_freed(reservation, request_id)
        return done

    def expire(self, command: Expire) -> None:
        reservation = self.reservations.get(command.reservation_id)
        if reservation is not None and rules.is_due(reservation, self.now):
            self.give_back(reservation, ReservationState.EXPIRED, (), "", "", "")
            self.fill_freed(reservation, "")

    def extend(self, command: Extend) -> Reservation:
        reservation = self.reservation(command.reservation_id)
        later = lifecycle.extended(reservation, command, self.now)
        if later is not reservation:
            self.changed(later)
        return later

    def set_policy(self, command: SetPolicy) -> InventoryPolicy:
        self.require_known([command.sku], [command.location_id] if command.location_id else [])
        self.require_stocked(command.sku)  # a kit's components have the policies
        key = backorders.policy_key(command.sku, command.location_id)
        policy = backorders.set_policy(self.policies.get(key), command, self.now)
        self.put_policy(policy)
        return policy

    def create_expected(
        self, command: CreateExpectedReceipt, request_id: str
    ) -> ExpectedReceiptChange:
        level = self.known_level(command.sku, command.location_id)
        if command.expected_receipt_id in self.expected:
            raise errors.expected_receipt_exists(command.expected_receipt_id)
        expected = ExpectedReceipt(
            command.expected_receipt_id,
            command.sku,
            command.location_id,
            command.quantity,
            received=0,
            state=ExpectedReceiptState.OPEN,
            expected_time=command.expected_time,
            reference=command.reference,
            create_time=self.now,
            update_time=self.now,
        )
        movement = self.move(
            level,
            MovementKind.INCOMING,
            incoming=command.quantity,
            reference=command.reference,
            request_id=request_id,
            expected_receipt_id=command.expected_receipt_id,
        )
        self.put_expected(expected)
        return ExpectedReceiptChange(expected, movement.level, movement)

    def cancel_expected(
        self, command: CancelExpectedReceipt, request_id: str
    ) -> ExpectedReceiptChange:
        expected = self.expected_receipt(command.expected_receipt_id)
        level = self.level(StockKey(expected.sku, expected.location_id))
        if incoming.cancel_transition(expected) is rules.Transition.ALREADY_DONE:
            return ExpectedReceiptChange(expected, level, None)
        movement = self.move(
            level,
            MovementKind.INCOMING_CANCEL,
            incoming=-expected.remaining,
            reason=command.reason,
            reference=expected.reference,
            request_id=request_id,
            expected_receipt_id=expected.expected_receipt_id,
        )
        cancelled = dataclasses.replace(
            expected, state=ExpectedReceiptState.CANCELLED, update_time=self.now
        )
        self.put_expected(cancelled)
        return ExpectedReceiptChange(cancelled, movement.level, movement)

    def give_back(
        self,
        reservation: Reservation,
        way: ReservationState,
        parts: Sequence[PartialLine],
        reason: str,
        reference: str,
        request_id: str,
    ) -> Reservation:
        """Settle ``parts`` of what the reservation holds (everything without parts) the
        ``way`` given; giving all of it back also cancels what still waits (charged back
        to its policy). One ledger entry per level, in key order."""
        kind, ships = rules.GIVE_BACK[way]
        taken = lifecycle.takes(reservation, parts)
        units: dict[StockKey, int] = {}
        for take in taken:  # a kit's component may share a level with a line of its own
            units[take.allocation.key] = units.get(take.allocation.key, 0) + take.quantity
        waiting = {StockKey(b.sku, b.location_id): b for b in reservation.backorders()}
        cancel = {} if parts else {k: b for k, b in waiting.items() if b.outstanding}
        for key in sorted(units.keys() | cancel.keys()):
            backorder = cancel.get(key)
            unfilled = backorder.outstanding if backorder is not None else 0
            if backorder is not None:  # its allowance goes back to the policy it was charged to
                policy = backorders.policy_key(key.sku, backorder.policy_location)
                self.put_policy(backorders.charge(self.policies[policy], -unfilled))
            self.move(
                self.levels[key],
                kind,
                on_hand=-units.get(key, 0) if ships else 0,
                reserved=-units.get(key, 0),
                backordered=-unfilled,
                reason=reason,
                reference=reference,
                reservation_id=reservation.reservation_id,
                request_id=request_id,
            )
        done = lifecycle.settled(reservation, taken, way, self.now, cancel_waiting=not parts)
        self.changed(done)
        if any(r.reservation_id == done.reservation_id for r in self.decision.reservations):
            return done
        for b in done.backorders():
            row = (done.reservation_id, b.sku, b.location_id)
            if (
                row in self.decision.backorder_writes
                or waiting[StockKey(b.sku, b.location_id)] != b
            ):
                self.decision.backorder_writes[row] = b
        return done

    def changed(self, done: Reservation) -> None:
        """Record a reservation's new version: a new one of this batch is written as it is
        now, one that existed before is updated."""
        self.reservations[done.reservation_id] = done
        new = [r for r in self.decision.reservations if r.reservation_id != done.reservation_id]
        if len(new) != len(self.decision.reservations):
            self.decision.reservations = [*new, done]
        else:
            self.decision.updated[done.reservation_id] = done

    # Backorders filled.

    def fill_freed(self, reservation: Reservation, request_id: str) -> None:
        """Fill what waits at the levels a give-back freed units at."""
        for key in sorted({a.key for a in reservation.allocations()}):
            self.fill(key, request_id)

    def fill(self, key: StockKey, request_id: str) -> tuple[Movement, ...]:
        """Fill the backorders waiting at ``key`` from what is available there, first come
        first served; one BACKORDER_FILL entry each."""
        level = self.levels.get(key)
        if level is None or level.backordered == 0 or level.available == 0:
            return ()
        if key.sku not in self.snapshot.queued_skus:
            raise rules.BrokenInvariant(f"the batch did not read the backorders waiting at {key}")
        waiting = backorders.waiting_at(key, self.reservations.values())
        if sum(w.outstanding for w in waiting) != level.backordered:
            raise rules.BrokenInvariant(f"{level} disagrees with the backorders waiting there")
        entries: list[Movement] = []
        for reservation_id, units in backorders.fills(level.available, waiting):
            entries.append(self.fill_one(key, self.reservations[reservation_id], units, request_id))
        return tuple(entries)

    def fill_one(
        self, key: StockKey, reservation: Reservation, units: int, request_id: str
    ) -> Movement:
        """Move ``units`` of ``reservation``'s backorder at ``key`` to its allocation there."""
        (number,) = [n for n, line in enumerate(reservation.lines) if line.sku == key.sku]
        line = reservation.lines[number]
        (waiting,) = [b for b in line.backorders if b.location_id == key.location_id]
        backorder = dataclasses.replace(waiting, filled=waiting.filled + units)
        policy = backorders.policy_key(key.sku, backorder.policy_location)
        self.put_policy(backorders.charge(self.policies[policy], -units))
        present = {a.location_id: a for a in line.allocations}
        there = present.get(key.location_id)
        grown = (  # what was settled of it so far stays counted
            dataclasses.replace(there, quantity=there.quantity + units)
            if there is not None
            else Allocation(key.sku, key.location_id, units)
        )
        present[key.location_id] = grown
        line = dataclasses.replace(
            line,
            allocations=tuple(sorted(present.values(), key=lambda a: (-a.quantity, a.location_id))),
            backorders=tuple(
                backorder if b.location_id == key.location_id else b for b in line.backorders
            ),
        )
        lines = list(reservation.lines)
        lines[number] = line
        filled = dataclasses.replace(reservation, lines=tuple(lines))
        self.reservations[reservation.reservation_id] = filled
        created = [r.reservation_id for r in self.decision.reservations]
        if reservation.reservation_id in created:  # new in this batch: insert it as it is now
            self.decision.reservations[created.index(reservation.reservation_id)] = filled
        else:
            row = (reservation.reservation_id, key.sku, key.location_id)
            self.decision.allocation_writes[row] = (number, grown.quantity)
            self.decision.backorder_writes[row] = backorder
            if reservation.reservation_id in self.decision.updated:  # settled in part earlier
                self.decision.updated[reservation.reservation_id] = filled
        return self.move(
            self.levels[key],
            MovementKind.BACKORDER_FILL,
            reserved=units,
            backordered=-units,
            reference=reservation.reference,
            reservation_id=reservation.reservation_id,
            request_id=request_id,
        )

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

    def expected_receipt(self, expected_receipt_id: str) -> ExpectedReceipt:
        found = self.expected.get(expected_receipt_id)
        if found is None:
            raise errors.expected_receipt_not_found(expected_receipt_id)
        return found

    def put_policy(self, policy: InventoryPolicy) -> None:
        key = backorders.policy_key(policy.sku, policy.location_id)
        if key not in self.snapshot.policies:
            self.decision.policies_created.add(key)
        self.policies[key] = policy
        self.decision.policies[key] = policy

    def put_expected(self, expected: ExpectedReceipt) -> None:
        if expected.expected_receipt_id not in self.snapshot.expected_receipts:
            self.decision.expected_receipts_created.add(expected.expected_receipt_id)
        self.expected[expected.expected_receipt_id] = expected
        self.decision.expected_receipts[expected.expected_receipt_id] = expected

    def move(
        self,
        level: StockLevel,
        kind: MovementKind,
        *,
        on_hand: int = 0,
        reserved: int = 0,
        damaged: int = 0,
        quality_control: int = 0,
        backordered: int = 0,
        incoming: int = 0,
        reason: str = "",
        reference: str = "",
        reservation_id: str = "",
        request_id: str = "",
        expected_receipt_id: str = "",
    ) -> Movement:
        """Append one ledger entry and the level after it (its version moves by one)."""
        # Built directly rather than with dataclasses.replace: this runs for every entry
        # of every batch, and replace's field-by-field copy was a tenth of deciding.
        after = StockLevel(
            level.sku,
            level.location_id,
            level.on_hand + on_hand,
            level.reserved + reserved,
            level.safety_stock,
            level.version + 1,
            level.damaged + damaged,
            level.quality_control + quality_control,
            level.reorder_point,
            level.backordered + backordered,
            level.incoming + incoming,
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
            backordered_delta=backordered,
            incoming_delta=incoming,
            expected_receipt_id=expected_receipt_id,
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
