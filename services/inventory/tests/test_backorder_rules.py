"""The backorder rules in plain Python: the fill rule (first come, first served), where
short units go, when expected receipts cover a shortfall, and a hypothesis state machine of
random batches through ``decide`` that checks every invariant after each."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from stockroom.common.errors import StockroomError
from stockroom.inventory.domain import backorders, incoming
from stockroom.inventory.domain.decide import Snapshot, Write, _Batch
from stockroom.inventory.domain.model import (
    Adjustment,
    Confirm,
    Line,
    MovementKind,
    Receipt,
    Release,
    Reservation,
    ReservationRequest,
    ReservationState,
    Reserve,
    SafetyStockChange,
    StockKey,
    StockLevel,
    Transfer,
)
from stockroom.inventory.domain.supply import (
    ExpectedReceipt,
    ExpectedReceiptState,
    InventoryPolicy,
    PolicyMode,
    SetPolicy,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)

waiting_lists = st.lists(
    st.builds(
        backorders.Waiting,
        queue_position=st.integers(1, 50),
        reservation_id=st.uuids().map(str),
        outstanding=st.integers(1, 20),
    ),
    max_size=12,
    unique_by=lambda w: (w.queue_position, w.reservation_id),
)


@given(available=st.integers(0, 100), waiting=waiting_lists)
def test_fills_serve_the_earliest_first_and_never_more_than_is_available_or_owed(
    available: int, waiting: list[backorders.Waiting]
) -> None:
    filled = dict(backorders.fills(available, waiting))

    queue = sorted(waiting, key=lambda w: (w.queue_position, w.reservation_id))
    assert sum(filled.values()) == min(available, sum(w.outstanding for w in waiting))
    for n, backorder in enumerate(queue):
        got = filled.get(backorder.reservation_id, 0)
        assert 0 <= got <= backorder.outstanding
        if got:  # everyone before it got all it was owed
            assert all(filled.get(w.reservation_id) == w.outstanding for w in queue[:n])
    partly = [w for w in queue if 0 < filled.get(w.reservation_id, 0) < w.outstanding]
    assert len(partly) <= 1


def level(location_id: str, *, incoming_units: int = 0, backordered: int = 0) -> StockLevel:
    return StockLevel(
        "A", location_id, 0, 0, 0, 1, backordered=backordered, incoming=incoming_units
    )


def policy(
    location_id: str, mode: PolicyMode, limit: int | None, taken: int = 0
) -> InventoryPolicy:
    until = NOW + timedelta(days=1) if mode is PolicyMode.PREORDER else None
    return InventoryPolicy("A", location_id, mode, limit, until, taken, 1, NOW)


def test_short_units_go_where_most_is_incoming_within_each_policys_room() -> None:
    levels = [level("L1"), level("L2", incoming_units=5), level("L3", incoming_units=1)]
    policies = {
        StockKey("A", ""): policy("", PolicyMode.BACKORDER, 4, taken=1),
        StockKey("A", "L3"): policy("L3", PolicyMode.PREORDER, None),
    }

    placed, left = backorders.place("A", 10, levels, policies, NOW)

    assert [(p.location_id, p.quantity, p.preorder, p.policy_location) for p in placed] == [
        ("L2", 3, False, ""),  # the SKU-wide policy has 3 left, shared by L1 and L2
        ("L3", 7, True, "L3"),
    ]
    assert left == 0
    room = backorders.backorder_room(levels, policies, NOW)
    assert (room.backorderable, room.preorderable) == (3, backorders.UNLIMITED)
    assert backorders.room(policies[StockKey("A", "L3")], NOW + timedelta(days=2)) == 0


def expected(receipt_id: str, location_id: str, quantity: int, days: int) -> ExpectedReceipt:
    when = NOW + timedelta(days=days)
    return ExpectedReceipt(
        receipt_id, "A", location_id, quantity, 0, ExpectedReceiptState.OPEN, when, "", NOW, NOW
    )


def test_available_time_counts_what_waits_and_missing_safety_stock_first() -> None:
    levels = [
        StockLevel("A", "L1", 0, 0, 0, 1, backordered=2),
        StockLevel("A", "L2", 1, 0, 3, 1),  # 2 short of its safety stock
    ]
    receipts = [
        expected("R1", "L1", 3, days=1),  # 2 fill what waits, 1 available
        expected("R2", "L2", 2, days=2),  # makes up the safety stock: nothing available
        expected("R3", "L2", 4, days=3),  # 4 available
    ]

    whens = [incoming.available_time(n, levels, receipts) for n in (1, 2, 5, 6)]

    assert whens == [NOW + timedelta(days=d) for d in (1, 3, 3)] + [None]


class Batches(RuleBasedStateMachine):
    """Random writes, alone or several per batch, decided on what the batch before left;
    after each: the ledger sums, what reservations hold and wait for, the policies'
    counts and limits, and the fill order agree."""

    LOCATIONS = ("L1", "L2")

    def __init__(self) -> None:
        super().__init__()
        self.levels: dict[StockKey, StockLevel] = {}
        self.reservations: dict[str, Reservation] = {}
        self.policies: dict[StockKey, InventoryPolicy] = {}
        self.entries: list[tuple[StockKey, MovementKind, int, int, int, int, str]] = []
        self.made = 0

    def run(self, *commands: object) -> None:
        snapshot = Snapshot(
            self.levels,
            self.reservations,
            {},
            frozenset({"A"}),
            frozenset(self.LOCATIONS),
            policies=self.policies,
            queued_skus=frozenset({"A"}),
        )
        batch = _Batch(snapshot, NOW)
        decision = batch.run([Write(c, None) for c in commands])  # type: ignore[arg-type]
        for outcome in decision.outcomes:
            assert not hasattr(outcome, "error") or isinstance(outcome.error, StockroomError)
        self.levels, self.reservations, self.policies = (
            batch.levels,
            batch.reservations,
            batch.policies,
        )
        for m in decision.entries:
            self.entries.append(
                (
                    m.level.key,
                    m.kind,
                    m.on_hand_delta,
                    m.reserved_delta,
                    m.backordered_delta,
                    m.level.version,
                    m.reservation_id,
                )
            )

    def reserve_command(self, quantity: int, only: str | None) -> Reserve:
        self.made += 1
        request = ReservationRequest(
            (Line("A", quantity),), timedelta(minutes=5), "", (only,) if only else ()
        )
        return Reserve(request, f"r{self.made:04d}")

    @rule(
        location=st.sampled_from(LOCATIONS),
        quantity=st.integers(1, 6),
        reserve=st.lists(st.tuples(st.integers(1, 6), st.none() | st.sampled_from(LOCATIONS))),
    )
    def receive_in_a_burst(
        self, location: str, quantity: int, reserve: list[tuple[int, str | None]]
    ) -> None:
        """Reservations and a receipt in one batch: the receipt may fill what the batch
        itself backordered."""
        commands: list[object] = [self.reserve_command(q, only) for q, only in reserve]
        commands.append(Receipt("A", location, quantity, "", ""))
        self.run(*commands)

    @rule(quantity=st.integers(1, 8), only=st.none() | st.sampled_from(LOCATIONS))
    def reserve(self, quantity: int, only: str | None) -> None:
        self.run(self.reserve_command(quantity, only))

    @rule(data=st.data(), confirm=st.booleans())
    def settle(self, data: st.DataObject, confirm: bool) -> None:
        if not self.reservations:
            return
        chosen = data.draw(st.sampled_from(sorted(self.reservations)))
        self.run(Confirm(chosen, "") if confirm else Release(chosen, ""))

    @rule(location=st.sampled_from(LOCATIONS), on_hand=st.integers(0, 12))
    def count(self, location: str, on_hand: int) -> None:
        self.run(Adjustment("A", location, on_hand, None, "COUNT", ""))

    @rule(location=st.sampled_from(LOCATIONS), safety=st.integers(0, 3))
    def safety_stock(self, location: str, safety: int) -> None:
        self.run(SafetyStockChange("A", location, safety, None))

    @rule(source=st.sampled_from(LOCATIONS), quantity=st.integers(1, 4))
    def transfer(self, source: str, quantity: int) -> None:
        target = "L2" if source == "L1" else "L1"
        self.run(Transfer("A", source, target, quantity, "", ""))

    @rule(
        location=st.sampled_from(("", *LOCATIONS)),
        mode=st.sampled_from(list(PolicyMode)),
        limit=st.none() | st.integers(0, 10),
    )
    def set_policy(self, location: str, mode: PolicyMode, limit: int | None) -> None:
        if mode is PolicyMode.BACKORDER and limit is None:
            limit = 5
        until = NOW + timedelta(days=1) if mode is PolicyMode.PREORDER else None
        self.run(SetPolicy("A", location, mode, limit, until, None))

    @invariant()
    def levels_equal_the_ledger_and_what_reservations_hold_and_wait_for(self) -> None:
        sums: dict[StockKey, list[int]] = defaultdict(lambda: [0, 0, 0])
        for key, _, on_hand, reserved, backordered, _, _ in self.entries:
            sums[key][0] += on_hand
            sums[key][1] += reserved
            sums[key][2] += backordered
        held: dict[StockKey, int] = defaultdict(int)
        waiting: dict[StockKey, int] = defaultdict(int)
        charged: dict[StockKey, int] = defaultdict(int)
        for r in self.reservations.values():
            for line in r.lines:
                assert line.quantity == sum(a.quantity for a in line.allocations) + sum(
                    b.quantity - b.filled for b in line.backorders
                )
            if r.state is not ReservationState.ACTIVE:
                assert all(b.outstanding == 0 for b in r.backorders())
                continue
            for a in r.allocations():
                held[a.key] += a.quantity
            for b in r.backorders():
                waiting[StockKey(b.sku, b.location_id)] += b.outstanding
                charged[StockKey(b.sku, b.policy_location)] += b.outstanding
        for key, lv in self.levels.items():
            assert [lv.on_hand, lv.reserved, lv.backordered] == sums[key]
            assert lv.reserved == held[key]
            assert lv.backordered == waiting[key]
            assert lv.backordered == 0 or lv.available == 0, "units available while some wait"
        for key, p in self.policies.items():
            assert p.backordered == charged[key]
            backorders.check_policy(p)

    @invariant()
    def fills_went_first_come_first_served(self) -> None:
        queues: dict[StockKey, list[list[object]]] = defaultdict(list)
        for key, kind, _, _, backordered, version, reservation_id in self.entries:
            queue = queues[key]
            if kind in (MovementKind.BACKORDER, MovementKind.PREORDER):
                queue.append([version, reservation_id, backordered])
            elif kind is MovementKind.BACKORDER_FILL:
                head = min((q for q in queue if q[2]), key=lambda q: q[0])  # type: ignore[arg-type,return-value]
                assert head[1] == reservation_id, "a fill skipped an earlier backorder"
                head[2] = head[2] + backordered  # type: ignore[operator]
            elif backordered:  # a release or expiry gave its unfilled units back
                for q in queue:
                    if q[1] == reservation_id:
                        q[2] = 0


TestBatches = Batches.TestCase
TestBatches.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
