"""Random operation sequences against the use cases and a simple model; invariants after
every step.

Hypothesis drives receipts, counts, transfers, safety stock, reservations (of
items and of a kit), confirmations and releases (of all or part of a line),
extensions, expiry, moves between stock states, bulk rows and replays of
earlier requests in any order, through the batched write path; some steps are
bursts of concurrent writes (several requests per batch, in any order, with
refusals and a request id sent twice) whose outcomes the model then follows.
After each step the database must agree with the model, the levels must equal
the ledger's sums, reserved must equal what active reservations hold (what
their allocations have not settled), settled reservations must hold nothing,
and no level may be negative or oversold.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, func, select

from stockroom.common.db import RequestKey, create_engine, migrate
from stockroom.common.errors import Aborted, FailedPrecondition, InvalidArgument
from stockroom.inventory.app import MIGRATIONS, use_cases
from stockroom.inventory.domain.model import (
    Adjustment,
    KitComponent,
    Line,
    LocationKind,
    PartialLine,
    Receipt,
    Reservation,
    ReservationRequest,
    SafetyStockChange,
    StateMove,
    StockDelta,
    StockState,
    Transfer,
)
from stockroom.inventory.service.bulk import Row
from stockroom.inventory.store import tables
from stockroom.inventory.store.transactions import Transactions
from stockroom.inventory.testing import ManualClock

SKUS = ("A", "B", "C")
LOCATIONS = ("L1", "L2")
Key = tuple[str, str]

skus = st.sampled_from(SKUS)
locations = st.sampled_from(LOCATIONS)
quantities = st.integers(1, 15)
# The kit every run has: one A and two B per kit.
KIT = {"A": 1, "B": 2}
MOVES = [
    (StockState.SELLABLE, StockState.DAMAGED),
    (StockState.SELLABLE, StockState.QUALITY_CONTROL),
    (StockState.QUALITY_CONTROL, StockState.SELLABLE),
    (StockState.QUALITY_CONTROL, StockState.DAMAGED),
    (StockState.DAMAGED, StockState.SELLABLE),
    (StockState.DAMAGED, StockState.WRITTEN_OFF),
]


# An allocation within a reservation: (line index, SKU, location); a kit line holds units
# of several SKUs, and a SKU may be held by a kit line and a line of its own.
Place = tuple[int, str, str]


@dataclass
class Held:
    """A reservation as the model sees it: what each allocation still holds, how many
    units were confirmed, released and expired so far, and each line's SKU with the units
    of each stocked SKU one unit of it takes (a kit: its components)."""

    state: str
    expires: float  # seconds after the start
    total: int
    held: dict[Place, int]
    lines: dict[str, tuple[int, dict[str, int]]]
    settled: dict[str, int] = field(
        default_factory=lambda: {"CONFIRMED": 0, "RELEASED": 0, "EXPIRED": 0}
    )

    def final_state(self) -> str:
        """The documented end states (README, "Reservation lifecycle"), counted in units."""
        if any(self.held.values()):
            return "ACTIVE"
        confirmed = self.settled["CONFIRMED"]
        if confirmed == self.total:
            return "CONFIRMED"
        if confirmed == 0:
            return "EXPIRED" if self.settled["EXPIRED"] else "RELEASED"
        return "MIXED"


@dataclass
class Model:
    """What the inventory should hold: plain dictionaries and arithmetic."""

    on_hand: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    reserved: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    safety: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    damaged: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    quality_control: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    reservations: dict[str, Held] = field(default_factory=dict)

    def available(self, key: Key) -> int:
        return max(0, self.on_hand[key] - self.reserved[key] - self.safety[key])

    def hold(self, reservation: Reservation, expires: float) -> None:
        held: dict[Place, int] = {}
        lines: dict[str, tuple[int, dict[str, int]]] = {}
        for n, line in enumerate(reservation.lines):
            per_unit = (
                {c.sku: c.quantity // line.quantity for c in line.components}
                if line.components
                else {line.sku: 1}
            )
            lines[line.sku] = (n, per_unit)
            for a in line.held():
                held[n, a.sku, a.location_id] = a.quantity
                self.reserved[a.sku, a.location_id] += a.quantity
        total = sum(held.values())
        self.reservations[reservation.reservation_id] = Held("ACTIVE", expires, total, held, lines)

    def settle(self, reservation_id: str, way: str, taken: dict[Place, int]) -> None:
        """``taken`` units of each allocation settled ``way``; the state follows."""
        reservation = self.reservations[reservation_id]
        for place, quantity in taken.items():
            assert 0 <= quantity <= reservation.held[place], (place, quantity, reservation)
            key = (place[1], place[2])
            reservation.held[place] -= quantity
            reservation.settled[way] += quantity
            self.reserved[key] -= quantity
            if way == "CONFIRMED":
                self.on_hand[key] -= quantity
        reservation.state = reservation.final_state()

    def give_back(self, reservation_id: str, way: str) -> None:
        """Everything still held, settled ``way``."""
        self.settle(reservation_id, way, dict(self.reservations[reservation_id].held))


class InventoryMachine(RuleBasedStateMachine):
    url = ""

    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock()
        self.elapsed = 0.0
        self.model = Model()
        self.engine = create_engine(self.url)
        cases = use_cases(Transactions(self.engine), self.clock)
        self.stock = cases.stock
        self.reservations_store = cases.reservations
        self.catalog = cases.catalog
        self.writes = cases.writes
        self.bulk = cases.bulk
        self.replays: list[tuple[Any, Any, Any, Any]] = []
        self.start = self.clock.now
        self.run(self._reset())

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    async def _reset(self) -> None:
        async with self.engine.begin() as connection:
            for table in reversed(tables.metadata.sorted_tables):
                await connection.execute(delete(table))
        for sku in SKUS:
            await self.catalog.create_item(sku, sku, self.key())
        kit = [KitComponent(sku, units) for sku, units in KIT.items()]
        await self.catalog.create_item("KIT", "kit", self.key(), kit)
        for location in LOCATIONS:
            await self.catalog.create_location(location, location, LocationKind.STORE, self.key())
        # Some stock from the start, so early reservations can succeed.
        for sku in SKUS:
            for location in LOCATIONS:
                await self.stock.receive(Receipt(sku, location, 10, "", ""), self.key())
                self.model.on_hand[sku, location] = 10

    def key(self) -> RequestKey:
        return RequestKey(str(uuid.uuid4()), "test", "fingerprint")

    def attempt(self, call: Any, *args: Any, **options: Any) -> Any:
        """Run a store call; remember it for a later replay when it succeeded."""
        key = self.key()
        result = self.run(call(*args, key, **options))
        self.replays.append((call, (*args, key), options, result))
        return result

    def teardown(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()

    @rule(sku=skus, location=locations, quantity=quantities)
    def receive(self, sku: str, location: str, quantity: int) -> None:
        self.attempt(self.stock.receive, Receipt(sku, location, quantity, "", ""))
        self.model.on_hand[sku, location] += quantity

    @rule(
        sku=skus,
        location=locations,
        count=st.integers(0, 30),
        compare=st.sampled_from(["none", "right", "wrong"]),
    )
    def adjust(self, sku: str, location: str, count: int, compare: str) -> None:
        key = (sku, location)
        seen = {
            "none": None,
            "right": self.model.on_hand[key],
            "wrong": self.model.on_hand[key] + 1,
        }[compare]
        adjustment = Adjustment(sku, location, count, seen, "COUNT", "")
        if compare == "wrong":
            with pytest.raises(Aborted):
                self.attempt(self.stock.adjust, adjustment)
        elif count < self.model.reserved[key]:
            with pytest.raises(FailedPrecondition):
                self.attempt(self.stock.adjust, adjustment)
        else:
            self.attempt(self.stock.adjust, adjustment)
            self.model.on_hand[key] = count

    @rule(sku=skus, quantity=quantities, source=locations)
    def transfer(self, sku: str, quantity: int, source: str) -> None:
        target = next(loc for loc in LOCATIONS if loc != source)
        transfer = Transfer(sku, source, target, quantity, "", "")
        if self.model.on_hand[sku, source] - self.model.reserved[sku, source] < quantity:
            with pytest.raises(FailedPrecondition):
                self.attempt(self.stock.transfer, transfer)
            return
        self.attempt(self.stock.transfer, transfer)
        self.model.on_hand[sku, source] -= quantity
        self.model.on_hand[sku, target] += quantity

    @rule(sku=skus, location=locations, units=st.integers(0, 8))
    def set_safety_stock(self, sku: str, location: str, units: int) -> None:
        self.attempt(self.stock.set_safety_stock, SafetyStockChange(sku, location, units, None))
        self.model.safety[sku, location] = units

    @rule(
        target=reservations,
        wanted=st.dictionaries(skus, quantities, min_size=1, max_size=3),
        ttl_s=st.integers(10, 100),
    )
    def reserve(self, wanted: dict[str, int], ttl_s: int) -> str:
        request = ReservationRequest(
            tuple(Line(s, q) for s, q in wanted.items()), timedelta(seconds=ttl_s), "", ()
        )
        enough = all(
            sum(self.model.available((s, loc)) for loc in LOCATIONS) >= q for s, q in wanted.items()
        )
        if not enough:
            with pytest.raises(FailedPrecondition):
                self.attempt(self.reservations_store.reserve, request)
            return ""
        reservation = self.attempt(self.reservations_store.reserve, request)
        for line in reservation.lines:
            assert sum(a.quantity for a in line.allocations) == wanted[line.sku]
            if any(self.model.available((line.sku, loc)) >= line.quantity for loc in LOCATIONS):
                assert len(line.allocations) == 1, "one location could serve the whole line"
            for a in line.allocations:
                assert 0 < a.quantity <= self.model.available((a.sku, a.location_id))
        self.model.hold(reservation, self.elapsed + ttl_s)
        return str(reservation.reservation_id)

    @rule(target=reservations, kits=st.integers(1, 6), extra=st.integers(0, 3))
    def reserve_kits(self, kits: int, extra: int) -> str:
        """A kit line (and maybe a line of one of its components): every component or
        nothing; the component line takes what the kit line left."""
        lines = [Line("KIT", kits)] + ([Line("B", extra)] if extra else [])
        request = ReservationRequest(tuple(lines), timedelta(seconds=60), "", ())
        free = {s: sum(self.model.available((s, loc)) for loc in LOCATIONS) for s in KIT}
        enough = all(free[s] >= units * kits for s, units in KIT.items())
        enough = enough and free["B"] - 2 * kits >= extra
        if not enough:
            with pytest.raises(FailedPrecondition):
                self.attempt(self.reservations_store.reserve, request)
            return ""
        reservation = self.attempt(self.reservations_store.reserve, request)
        kit_line = reservation.lines[0]
        assert kit_line.allocations == ()
        assert {c.sku: c.quantity for c in kit_line.components} == {
            s: units * kits for s, units in KIT.items()
        }
        held: dict[Key, int] = defaultdict(int)
        for a in reservation.allocations():
            held[a.sku, a.location_id] += a.quantity
        for key, quantity in held.items():
            assert quantity <= self.model.available(key)
        self.model.hold(reservation, self.elapsed + 60)
        return str(reservation.reservation_id)

    @rule(sku=skus, location=locations, move=st.sampled_from(MOVES), quantity=st.integers(1, 8))
    def move_between_states(
        self, sku: str, location: str, move: tuple[StockState, StockState], quantity: int
    ) -> None:
        key = (sku, location)
        source, target = move
        buckets = {
            StockState.SELLABLE: self.model.on_hand,
            StockState.DAMAGED: self.model.damaged,
            StockState.QUALITY_CONTROL: self.model.quality_control,
        }
        movable = buckets[source][key] - (
            self.model.reserved[key] if source is StockState.SELLABLE else 0
        )
        command = StateMove(sku, location, source, target, quantity, "INSPECTION", "")
        if quantity > movable:
            with pytest.raises(FailedPrecondition):
                self.attempt(self.stock.move_state, command)
            return
        self.attempt(self.stock.move_state, command)
        buckets[source][key] -= quantity
        if target in buckets:
            buckets[target][key] += quantity

    @rule(
        rows=st.lists(
            st.tuples(skus, locations, st.integers(-12, 12).filter(bool)), min_size=1, max_size=6
        )
    )
    def bulk_rows(self, rows: list[tuple[str, str, int]]) -> None:
        """Rows in one bulk call: each decided in order on what the rows before it left,
        each refused alone when it would take reserved units."""
        commands = [
            Row(i, "", StockDelta(s, loc, d, None, None, "COUNT", ""), self.key())
            for i, (s, loc, d) in enumerate(rows)
        ]
        outcomes = self.run(self.bulk.apply(commands))
        for (sku, location, delta), outcome in zip(rows, outcomes, strict=True):
            key = (sku, location)
            if self.model.on_hand[key] + delta < self.model.reserved[key]:
                assert outcome.error is not None
                assert outcome.error.reason == "BELOW_RESERVED"
                continue
            assert outcome.error is None, outcome.error
            self.model.on_hand[key] += delta

    @rule(reservation_id=reservations)
    def confirm(self, reservation_id: str) -> None:
        if not reservation_id:
            return
        held = self.model.reservations[reservation_id]
        if held.state == "ACTIVE" and self.elapsed < held.expires:
            after = self.attempt(self.reservations_store.confirm, reservation_id, "")
            self.model.give_back(reservation_id, "CONFIRMED")
            assert after.state.value == held.state
        elif held.state == "CONFIRMED":
            self.attempt(self.reservations_store.confirm, reservation_id, "")
        else:
            with pytest.raises(FailedPrecondition):
                self.attempt(self.reservations_store.confirm, reservation_id, "")

    @rule(reservation_id=reservations)
    def release(self, reservation_id: str) -> None:
        if not reservation_id:
            return
        held = self.model.reservations[reservation_id]
        if held.state in ("CONFIRMED", "MIXED"):
            with pytest.raises(FailedPrecondition):
                self.attempt(self.reservations_store.release, reservation_id, "")
            return
        was_active = held.state == "ACTIVE"
        after = self.attempt(self.reservations_store.release, reservation_id, "")
        if was_active:
            self.model.give_back(reservation_id, "RELEASED")
        assert after.state.value == held.state

    @rule(
        reservation_id=reservations,
        way=st.sampled_from(["CONFIRMED", "RELEASED"]),
        sku=st.sampled_from([*SKUS, "KIT"]),
        quantity=st.integers(1, 8),
        at_one_location=st.booleans(),
    )
    def settle_part_of_a_line(
        self, reservation_id: str, way: str, sku: str, quantity: int, at_one_location: bool
    ) -> None:
        """Confirm or release part of a line (a kit line: whole kits): refused unless active
        (and, to confirm, not past its time), the SKU is a line and that much is held there
        (of every component)."""
        if not reservation_id:
            return
        held = self.model.reservations[reservation_id]
        n, per_unit = held.lines.get(sku, (-1, {}))
        places = [p for p in held.held if p[0] == n]
        location = min(p[2] for p in places) if at_one_location and places else ""
        possible = min(
            (
                sum(q for p, q in held.held.items() if p[:2] == (n, c) and location in ("", p[2]))
                // units
                for c, units in per_unit.items()
            ),
            default=0,
        )
        stores = self.reservations_store
        call = stores.confirm if way == "CONFIRMED" else stores.release
        parts = (PartialLine(sku, quantity, location),)
        allowed = held.state == "ACTIVE" and (way == "RELEASED" or self.elapsed < held.expires)
        if not allowed:
            with pytest.raises(FailedPrecondition):
                self.attempt(call, reservation_id, "", lines=parts)
            return
        if not places or (location and any((n, c, location) not in held.held for c in per_unit)):
            with pytest.raises(InvalidArgument):
                self.attempt(call, reservation_id, "", lines=parts)
            return
        if quantity > possible:
            with pytest.raises(FailedPrecondition) as refused:
                self.attempt(call, reservation_id, "", lines=parts)
            assert refused.value.reason == "NOT_ENOUGH_HELD"
            return
        after = self.attempt(call, reservation_id, "", lines=parts)
        now = {
            (m, a.sku, a.location_id): a.held
            for m, line in enumerate(after.lines)
            for a in line.held()
        }
        taken = {p: held.held[p] - now[p] for p in held.held}
        for c, units in per_unit.items():
            assert sum(q for p, q in taken.items() if p[:2] == (n, c)) == units * quantity
        assert all(q == 0 for p, q in taken.items() if p[0] != n or location not in ("", p[2]))
        self.model.settle(reservation_id, way, taken)
        assert after.state.value == held.state

    @rule(reservation_id=reservations, ttl_s=st.integers(1, 200))
    def extend(self, reservation_id: str, ttl_s: int) -> None:
        """A later expiry for an active reservation not past its time; never an earlier one."""
        if not reservation_id:
            return
        held = self.model.reservations[reservation_id]
        call = self.reservations_store.extend
        if held.state != "ACTIVE" or self.elapsed >= held.expires:
            with pytest.raises(FailedPrecondition):
                self.attempt(call, reservation_id, ttl=timedelta(seconds=ttl_s))
            return
        after = self.attempt(call, reservation_id, ttl=timedelta(seconds=ttl_s))
        held.expires = max(held.expires, self.elapsed + ttl_s)
        assert after.expire_time == self.start + timedelta(seconds=held.expires)

    @rule(
        wanted=st.lists(
            st.dictionaries(skus, quantities, min_size=1, max_size=3), min_size=2, max_size=8
        ),
        receipts=st.lists(st.tuples(skus, locations, quantities), max_size=3),
        duplicate=st.booleans(),
    )
    def a_burst_of_concurrent_writes(
        self, wanted: list[dict[str, int]], receipts: list[tuple[str, str, int]], duplicate: bool
    ) -> None:
        """Reservations and receipts at once (batched together, decided in arrival order);
        the first reservation's request id sent twice when ``duplicate``."""
        requests = [
            ReservationRequest(
                tuple(Line(s, q) for s, q in lines.items()), timedelta(seconds=60), "", ()
            )
            for lines in wanted
        ]
        keys = [self.key() for _ in requests]
        calls: list[Any] = [
            self.reservations_store.reserve(request, key)
            for request, key in zip(requests, keys, strict=True)
        ]
        if duplicate:
            calls.append(self.reservations_store.reserve(requests[0], keys[0]))
        calls += [self.stock.receive(Receipt(*r, "", ""), self.key()) for r in receipts]
        batches_before = self.writes.batches

        async def burst() -> list[Any]:
            return await asyncio.gather(*calls, return_exceptions=True)

        outcomes = self.run(burst())
        assert self.writes.batches - batches_before < len(calls), "nothing was batched"
        for sku, location, quantity in receipts:
            self.model.on_hand[sku, location] += quantity
        reserved = outcomes[: len(requests)]
        if duplicate:
            again = outcomes[len(requests)]
            if isinstance(reserved[0], BaseException):
                # Refusals are not recorded: the repeat was decided afresh, later in the batch.
                reserved.append(again)
            else:
                assert again == reserved[0], "a repeated request id got another answer"
        for outcome in reserved:
            if isinstance(outcome, FailedPrecondition):
                assert outcome.reason == "INSUFFICIENT_STOCK"
                continue
            assert not isinstance(outcome, BaseException), outcome
            self.model.hold(outcome, self.elapsed + 60)

    @rule(seconds=st.integers(1, 60))
    def time_passes_and_the_sweeper_runs(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.elapsed += seconds
        self.run(self.reservations_store.expire_due(1000))
        for reservation_id, held in list(self.model.reservations.items()):
            if held.state == "ACTIVE" and held.expires <= self.elapsed:
                self.model.give_back(reservation_id, "EXPIRED")

    @rule(data=st.data())
    def replay_an_earlier_request(self, data: st.DataObject) -> None:
        if not self.replays:
            return
        call, args, options, first = data.draw(st.sampled_from(self.replays))
        assert self.run(call(*args, **options)) == first

    @invariant()
    def the_database_agrees_with_the_model_and_the_ledger(self) -> None:
        levels, ledger, held, reservations = self.run(self._read())
        for key, (on_hand, reserved, safety, damaged, qc) in levels.items():
            assert 0 <= reserved <= on_hand
            assert (on_hand, reserved, safety, damaged, qc) == (
                self.model.on_hand[key],
                self.model.reserved[key],
                self.model.safety[key],
                self.model.damaged[key],
                self.model.quality_control[key],
            )
            assert ledger.get(key, (0, 0, 0, 0)) == (on_hand, reserved, damaged, qc)
            assert held.get(key, 0) == reserved
        assert set(ledger) <= set(levels)
        assert all(self.model.on_hand[key] == 0 for key in self.model.on_hand if key not in levels)
        assert reservations == {
            rid: (r.state, {k: q for k, q in r.held.items()})
            for rid, r in self.model.reservations.items()
        }

    async def _read(
        self,
    ) -> tuple[
        dict[Key, tuple[int, int, int, int, int]],
        dict[Key, tuple[int, int, int, int]],
        dict[Key, int],
        dict[str, tuple[str, dict[Place, int]]],
    ]:
        m, a, r = (
            tables.movements.c,
            tables.reservation_allocations.c,
            tables.reservations.c,
        )
        async with self.engine.connect() as connection:
            levels = {
                (row.sku, row.location_id): (
                    row.on_hand,
                    row.reserved,
                    row.safety_stock,
                    row.damaged,
                    row.quality_control,
                )
                for row in await connection.execute(select(tables.stock_levels))
            }
            ledger = {
                (row[0], row[1]): (int(row[2]), int(row[3]), int(row[4]), int(row[5]))
                for row in await connection.execute(
                    select(
                        m.sku,
                        m.location_id,
                        func.sum(m.on_hand_delta),
                        func.sum(m.reserved_delta),
                        func.sum(m.damaged_delta),
                        func.sum(m.quality_control_delta),
                    ).group_by(m.sku, m.location_id)
                )
            }
            unsettled = a.quantity - a.confirmed - a.released - a.expired
            held = {
                (row[0], row[1]): int(row[2])
                for row in await connection.execute(
                    select(a.sku, a.location_id, func.sum(unsettled))
                    .join(tables.reservations, r.reservation_id == a.reservation_id)
                    .where(r.state == "ACTIVE")
                    .group_by(a.sku, a.location_id)
                )
            }
            reservations: dict[str, tuple[str, dict[Place, int]]] = {}
            for row in await connection.execute(
                select(
                    r.reservation_id, r.state, a.line_number, a.sku, a.location_id, unsettled
                ).join(tables.reservation_allocations, r.reservation_id == a.reservation_id)
            ):
                place = (int(row[2]), row[3], row[4])
                reservations.setdefault(row[0], (row[1], {}))[1][place] = int(row[5])
        return levels, ledger, held, reservations


@pytest.mark.slow
@pytest.mark.timeout(900)  # shrinking a failure replays many sequences
async def test_random_operation_sequences_keep_every_invariant(database_url: str) -> None:
    await migrate(MIGRATIONS, database_url)
    machine = type("Machine", (InventoryMachine,), {"url": database_url})
    examples = 25 if database_url.startswith("sqlite") else 12
    await asyncio.to_thread(
        run_state_machine_as_test,
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
