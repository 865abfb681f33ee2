"""Kits, stock states and bulk rows under real concurrency: two replicas, many gRPC clients,
one PostgreSQL. Kits are never half reserved, nothing is oversold, levels equal the
ledger's sums (damaged and quality control included), each request id is applied once,
and bulk rows never share each other's fate."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from stockroom.common.db import migrate
from stockroom.common.errors import FailedPrecondition
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.testing import Inventory, ManualClock, request_id, running_inventory
from stockroom.inventory.v1 import inventory_pb2 as pb

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# Kit -> stocked item -> units per kit (SET2 is made of a SET and more: flattened here).
KITS = {
    "SET": {"A": 2, "B": 1},
    "DUO": {"B": 1, "C": 3},
    "SET2": {"A": 5, "B": 2},  # defined as SET + 3 A + 1 B
}


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[list[Inventory]]:
    """Two inventory servers on one database, sharing one hand-moved clock."""
    await migrate(MIGRATIONS, postgres_url)
    clock = ManualClock()
    async with (
        running_inventory(postgres_url, clock) as first,
        running_inventory(postgres_url, clock) as second,
    ):
        yield [first, second]


async def database_facts(url: str) -> dict[str, object]:
    """One snapshot: levels, the ledger's sums, what active reservations hold, every
    allocation by reservation line, kit lines, movements per request id, deadlocks."""
    engine = create_async_engine(url, isolation_level="REPEATABLE READ")
    try:
        async with engine.begin() as connection:

            async def rows(sql: str) -> list[Any]:
                return list(await connection.execute(text(sql)))

            levels = {
                (r.sku, r.location_id): (r.on_hand, r.reserved, r.damaged, r.quality_control)
                for r in await rows("SELECT * FROM stock_levels")
            }
            ledger = {
                (r.sku, r.location_id): (int(r.h), int(r.r), int(r.d), int(r.q))
                for r in await rows(
                    "SELECT sku, location_id, sum(on_hand_delta) AS h, sum(reserved_delta) AS r,"
                    " sum(damaged_delta) AS d, sum(quality_control_delta) AS q"
                    " FROM movements GROUP BY 1, 2"
                )
            }
            held = {
                (r.sku, r.location_id): int(r.quantity)
                for r in await rows(
                    "SELECT a.sku, a.location_id, sum(a.quantity) AS quantity"
                    " FROM reservation_allocations a JOIN reservations r USING (reservation_id)"
                    " WHERE r.state = 'ACTIVE' GROUP BY 1, 2"
                )
            }
            kit_lines = {
                (r.reservation_id, r.line_number): (r.kit_sku, r.quantity)
                for r in await rows("SELECT * FROM reservation_kit_lines")
            }
            line_units: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
            for r in await rows("SELECT * FROM reservation_allocations"):
                line_units[(r.reservation_id, r.line_number)][r.sku] += r.quantity
            per_request = Counter(
                r.request_id
                for r in await rows("SELECT request_id FROM movements WHERE request_id IS NOT NULL")
            )
            deadlocks = (
                await rows(
                    "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
                )
            )[0]
    finally:
        await engine.dispose()
    return {
        "levels": levels,
        "ledger": ledger,
        "held": held,
        "kit_lines": kit_lines,
        "line_units": line_units,
        "per_request": per_request,
        "deadlocks": deadlocks[0],
    }


def assert_books_balance(facts: dict[str, object]) -> None:
    """Levels equal the ledger's sums, reserved equals what active reservations hold, no
    level is negative or oversold, and every kit line holds all its components."""
    levels: dict[tuple[str, str], tuple[int, int, int, int]] = facts["levels"]  # type: ignore[assignment]
    assert facts["deadlocks"] == 0
    assert facts["ledger"] == levels
    assert {k: v[1] for k, v in levels.items() if v[1]} == facts["held"]
    assert all(0 <= r <= h and d >= 0 and q >= 0 for h, r, d, q in levels.values())
    kit_lines: dict[tuple[str, int], tuple[str, int]] = facts["kit_lines"]  # type: ignore[assignment]
    line_units: dict[tuple[str, int], Counter[str]] = facts["line_units"]  # type: ignore[assignment]
    assert kit_lines, "the test was meant to reserve kits"
    for line, (kit, kits) in kit_lines.items():
        expected = Counter({sku: units * kits for sku, units in KITS[kit].items()})
        assert line_units[line] == expected, (line, kit, kits)


async def define_kits(inventory: Inventory) -> None:
    async def kit(sku: str, components: dict[str, int]) -> None:
        await inventory.stub.CreateItem(
            pb.CreateItemRequest(
                item=pb.Item(
                    sku=sku,
                    components=[pb.KitComponent(sku=s, quantity=q) for s, q in components.items()],
                ),
                request_id=request_id(),
            )
        )

    await kit("SET", KITS["SET"])
    await kit("DUO", KITS["DUO"])
    await kit("SET2", {"SET": 1, "A": 3, "B": 1})


async def reserve(inventory: Inventory, lines: Sequence[tuple[str, int]]) -> pb.Reservation | str:
    try:
        response = await inventory.stub.ReserveStock(
            pb.ReserveStockRequest(
                lines=[pb.ReserveStockLine(sku=s, quantity=q) for s, q in lines],
                request_id=request_id(),
            )
        )
    except FailedPrecondition as error:
        return error.reason
    return response.reservation


async def move(inventory: Inventory, sku: str, location: str, source: Any, target: Any) -> str:
    try:
        await inventory.stub.MoveStock(
            pb.MoveStockRequest(
                sku=sku,
                location_id=location,
                from_state=source,
                to_state=target,
                quantity=2,
                reason="INSPECTION",
                request_id=request_id(),
            )
        )
    except FailedPrecondition as error:
        return error.reason
    return "MOVED"


async def test_kits_are_never_half_reserved_while_their_components_are_raced_for(
    replicas: list[Inventory], postgres_url: str
) -> None:
    """Kit reservations, reservations of the components alone, moves of sellable units to
    damaged and quality control and back, receipts, confirms and releases, all at once on
    two replicas, with more demand than stock."""
    await replicas[0].register(["A", "B", "C"], ["WH-1", "WH-2"])
    await define_kits(replicas[0])
    for sku, units in (("A", 110), ("B", 70), ("C", 130)):
        await replicas[0].receive(sku, "WH-1", units)
        await replicas[0].receive(sku, "WH-2", units // 2)
    rng = random.Random(14)
    orders = [
        rng.choice(
            [
                [("SET", rng.randint(1, 3))],
                [("DUO", rng.randint(1, 2))],
                [("SET2", 1)],
                [("SET", 1), ("DUO", 1)],
                [("A", rng.randint(1, 4)), ("SET", 1)],
                [("B", rng.randint(1, 3))],
                [("C", rng.randint(1, 6)), ("DUO", 1), ("B", 1)],
            ]
        )
        for _ in range(240)
    ]
    states = [pb.STOCK_STATE_SELLABLE, pb.STOCK_STATE_DAMAGED, pb.STOCK_STATE_QUALITY_CONTROL]

    async def client(n: int, order: list[tuple[str, int]]) -> list[str]:
        inventory = replicas[n % 2]
        outcomes = []
        if n % 4 == 0:  # a move racing the reservations for the same units
            source, target = rng.sample(states, 2)
            sku, location = rng.choice("ABC"), rng.choice(["WH-1", "WH-2"])
            outcomes.append(await move(inventory, sku, location, source, target))
        reservation = await reserve(inventory, order)
        if isinstance(reservation, str):
            return [*outcomes, reservation]
        for line in reservation.lines:  # the answer itself holds every component
            if line.sku in KITS:
                assert {c.sku: c.quantity for c in line.components} == {
                    sku: units * line.quantity for sku, units in KITS[line.sku].items()
                }
                assert all(
                    sum(a.quantity for a in c.allocations) == c.quantity for c in line.components
                )
        if n % 3 == 0:
            await inventory.stub.ReleaseReservation(
                pb.ReleaseReservationRequest(
                    reservation_id=reservation.reservation_id, request_id=request_id()
                )
            )
        elif n % 3 == 1:
            await inventory.stub.ConfirmReservation(
                pb.ConfirmReservationRequest(
                    reservation_id=reservation.reservation_id, request_id=request_id()
                )
            )
        if n % 15 == 0:
            await inventory.receive(rng.choice("ABC"), rng.choice(["WH-1", "WH-2"]), 3)
        return [*outcomes, "RESERVED"]

    results = await asyncio.gather(*(client(n, order) for n, order in enumerate(orders)))

    seen = Counter(outcome for outcomes in results for outcome in outcomes)
    assert seen["RESERVED"] > 0, seen
    assert seen["INSUFFICIENT_STOCK"] > 0, seen
    assert set(seen) <= {"RESERVED", "MOVED", "INSUFFICIENT_STOCK", "STOCK_RESERVED"}, seen
    assert_books_balance(await database_facts(postgres_url))


async def test_each_request_id_is_applied_once_when_sent_to_both_replicas_at_once(
    replicas: list[Inventory], postgres_url: str
) -> None:
    await replicas[0].register(["A", "B", "C"], ["WH-1"])
    await define_kits(replicas[0])
    await replicas[0].receive("A", "WH-1", 500)
    await replicas[0].receive("B", "WH-1", 500)

    def moves() -> list[pb.MoveStockRequest]:
        return [
            pb.MoveStockRequest(
                sku="AB"[n % 2],
                location_id="WH-1",
                from_state=pb.STOCK_STATE_SELLABLE,
                to_state=pb.STOCK_STATE_QUALITY_CONTROL,
                quantity=1 + n % 3,
                reason="SAMPLE",
                request_id=request_id(),
            )
            for n in range(60)
        ]

    rows = [
        pb.StockAdjustmentRow(
            sku="AB"[n % 2],
            location_id="WH-1",
            add_on_hand=1,
            reason="FOUND",
            request_id=request_id(),
        )
        for n in range(120)
    ]
    kit_requests = [
        pb.ReserveStockRequest(
            lines=[pb.ReserveStockLine(sku="SET", quantity=1)], request_id=request_id()
        )
        for _ in range(40)
    ]
    sent = moves()

    async def twice(call: str, request: object) -> None:
        await asyncio.gather(
            *(getattr(replica.stub, call)(request) for replica in replicas),
            getattr(replicas[0].stub, call)(request),
        )

    async def rows_twice(chunk: list[pb.StockAdjustmentRow]) -> None:
        request = pb.BatchAdjustStockRequest(rows=chunk)
        answers = await asyncio.gather(
            *(replica.stub.BatchAdjustStock(request) for replica in replicas)
        )
        assert all(a.failed == 0 for a in answers)

    await asyncio.gather(
        *(twice("MoveStock", m) for m in sent),
        *(rows_twice(rows[i : i + 15]) for i in range(0, len(rows), 15)),
        *(twice("ReserveStock", r) for r in kit_requests),
    )

    facts = await database_facts(postgres_url)
    per_request: Counter[str] = facts["per_request"]  # type: ignore[assignment]
    assert {per_request[m.request_id] for m in sent} == {1}
    assert {per_request[r.request_id] for r in rows} == {1}
    # A SET reservation writes one entry per component level (A and B).
    assert {per_request[r.request_id] for r in kit_requests} == {2}
    levels: dict[tuple[str, str], tuple[int, int, int, int]] = facts["levels"]  # type: ignore[assignment]
    moved = {sku: sum(m.quantity for m in sent if m.sku == sku) for sku in "AB"}
    assert levels[("A", "WH-1")][3] == moved["A"]
    assert levels[("A", "WH-1")][0] == 500 + 60 - moved["A"]
    assert levels[("B", "WH-1")][1] == 40
    assert_books_balance(facts)


async def test_bulk_rows_never_share_each_others_fate_under_concurrency(
    replicas: list[Inventory], postgres_url: str
) -> None:
    """Calls from both replicas at once, each mixing rows that must apply with rows that
    must fail (unknown SKU, below reserved, a stale compare-and-set), while reservations
    come and go; and every replica racing one compare-and-set count: exactly one wins."""
    await replicas[0].register(["A", "B", "C", "HOLD"], ["WH-1"])
    await define_kits(replicas[0])
    await replicas[0].receive("A", "WH-1", 100)
    await replicas[0].receive("HOLD", "WH-1", 10)
    await replicas[0].reserve({"HOLD": 10})

    def mixed(n: int) -> list[pb.StockAdjustmentRow]:
        good = pb.StockAdjustmentRow(
            sku="B", location_id="WH-1", add_on_hand=2, reason="FOUND", request_id=request_id()
        )
        bad = [
            pb.StockAdjustmentRow(
                sku="GHOST", location_id="WH-1", add_on_hand=1, reason="X", request_id=request_id()
            ),
            pb.StockAdjustmentRow(
                sku="HOLD", location_id="WH-1", add_on_hand=-1, reason="X", request_id=request_id()
            ),
            pb.StockAdjustmentRow(
                sku="A",
                location_id="WH-1",
                set_on_hand=1,
                expected_on_hand=10_000,
                reason="X",
                request_id=request_id(),
            ),
            pb.StockAdjustmentRow(
                sku="SET", location_id="WH-1", add_on_hand=1, reason="X", request_id=request_id()
            ),
        ]
        return [bad[n % 4], good, bad[(n + 1) % 4], good.__deepcopy__()]

    calls = [mixed(n) for n in range(60)]
    for call in calls:
        call[3].request_id = request_id()
    seen = (await replicas[0].level("A", "WH-1")).on_hand
    race = [
        pb.StockAdjustmentRow(
            sku="A",
            location_id="WH-1",
            set_on_hand=seen + 1 + n,
            expected_on_hand=seen,
            reason="RECOUNT",
            request_id=request_id(),
        )
        for n in range(30)
    ]

    async def send(n: int, chunk: list[pb.StockAdjustmentRow]) -> pb.BatchAdjustStockResponse:
        return await replicas[n % 2].stub.BatchAdjustStock(pb.BatchAdjustStockRequest(rows=chunk))

    answers, raced, held = await asyncio.gather(
        asyncio.gather(*(send(n, chunk) for n, chunk in enumerate(calls))),
        asyncio.gather(*(send(n, [r]) for n, r in enumerate(race))),
        asyncio.gather(*(reserve(replicas[n % 2], [("SET", 1)]) for n in range(20))),
    )

    for answer in answers:
        assert [r.error_code == "" for r in answer.results] == [False, True, False, True]
        assert {r.error_reason for r in answer.results if r.error_code} <= {
            "ITEM_NOT_FOUND",
            "BELOW_RESERVED",
            "ON_HAND_CHANGED",
            "KIT_HOLDS_NO_STOCK",
        }
    winners = [a.results[0] for a in raced if not a.results[0].error_code]
    assert len(winners) == 1
    assert {a.results[0].error_reason for a in raced if a.results[0].error_code} == {
        "ON_HAND_CHANGED"
    }
    assert all(isinstance(h, pb.Reservation) or h == "INSUFFICIENT_STOCK" for h in held)
    b_level = await replicas[1].level("B", "WH-1")
    assert b_level.on_hand == 2 * 2 * len(calls)
    assert (await replicas[1].level("HOLD", "WH-1")).on_hand == 10
    assert_books_balance(await database_facts(postgres_url))
