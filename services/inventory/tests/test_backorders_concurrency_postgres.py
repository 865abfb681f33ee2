"""Backorders under real concurrency: two replicas on one PostgreSQL, many gRPC clients.

Limits are never exceeded however many callers race; fills go first come first served
(replayed from the ledger, per level in version order); levels equal the ledger's sums;
reserved equals what active reservations hold and backordered what they wait for; each
policy counts exactly what is outstanding under it; incoming equals what open expected
receipts still bring; each request id is applied at most once; no deadlock.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from stockroom.common.db import migrate
from stockroom.common.errors import FailedPrecondition, NotFound
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.testing import Inventory, ManualClock, request_id, running_inventory
from stockroom.inventory.v1 import inventory_pb2 as pb

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

Key = tuple[str, str]


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


async def rows(connection: Any, sql: str) -> list[Any]:
    return list(await connection.execute(text(sql)))


async def facts(url: str) -> dict[str, Any]:
    """What the database says, in one snapshot."""
    engine = create_async_engine(url, isolation_level="REPEATABLE READ")
    try:
        async with engine.begin() as c:
            levels = {
                (r.sku, r.location_id): (r.on_hand, r.reserved, r.backordered, r.incoming)
                for r in await rows(c, "SELECT * FROM stock_levels")
            }
            ledger = {
                (r.sku, r.location_id): (int(r[2]), int(r[3]), int(r[4]), int(r[5]))
                for r in await rows(
                    c,
                    "SELECT sku, location_id, sum(on_hand_delta), sum(reserved_delta),"
                    " sum(backordered_delta), sum(incoming_delta) FROM movements GROUP BY 1, 2",
                )
            }
            held = {
                (r.sku, r.location_id): int(r[2])
                for r in await rows(
                    c,
                    "SELECT a.sku, a.location_id, sum(a.quantity) FROM reservation_allocations a"
                    " JOIN reservations r USING (reservation_id) WHERE r.state = 'ACTIVE'"
                    " GROUP BY 1, 2",
                )
            }
            waiting = {
                (r.sku, r.location_id): int(r[2])
                for r in await rows(
                    c,
                    "SELECT b.sku, b.location_id, sum(b.quantity - b.filled - b.cancelled)"
                    " FROM reservation_backorders b JOIN reservations r USING (reservation_id)"
                    " WHERE r.state = 'ACTIVE' GROUP BY 1, 2",
                )
            }
            settled_waiting = (
                await c.execute(
                    text(
                        "SELECT count(*) FROM reservation_backorders b JOIN reservations r"
                        " USING (reservation_id) WHERE r.state <> 'ACTIVE'"
                        " AND b.filled + b.cancelled < b.quantity"
                    )
                )
            ).scalar_one()
            available_while_waiting = (
                await c.execute(
                    text(
                        "SELECT count(*) FROM stock_levels"
                        " WHERE backordered > 0 AND on_hand - reserved - safety_stock > 0"
                    )
                )
            ).scalar_one()
            charged = {
                (r.sku, r.policy_location): int(r[2])
                for r in await rows(
                    c,
                    "SELECT sku, policy_location, sum(quantity - filled - cancelled)"
                    " FROM reservation_backorders GROUP BY 1, 2",
                )
            }
            policies = {
                (r.sku, r.location_id): (r.mode, r.backorder_limit, r.backordered)
                for r in await rows(c, "SELECT * FROM inventory_policies")
            }
            incoming = {
                (r.sku, r.location_id): int(r[2])
                for r in await rows(
                    c,
                    "SELECT sku, location_id, sum(quantity - received) FROM expected_receipts"
                    " WHERE state = 'OPEN' GROUP BY 1, 2",
                )
            }
            expected = {
                r.expected_receipt_id: (r.state, r.quantity, r.received)
                for r in await rows(c, "SELECT * FROM expected_receipts")
            }
            received_against = {
                r.expected_receipt_id: int(r[1])
                for r in await rows(
                    c,
                    "SELECT expected_receipt_id, sum(on_hand_delta) FROM movements"
                    " WHERE kind = 'RECEIPT' AND expected_receipt_id IS NOT NULL GROUP BY 1",
                )
            }
            entries = await rows(
                c,
                "SELECT sku, location_id, kind, backordered_delta, version, reservation_id,"
                " request_id FROM movements ORDER BY sku, location_id, version",
            )
            deadlocks = (
                await c.execute(
                    text(
                        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return {
        "levels": levels,
        "ledger": ledger,
        "held": held,
        "waiting": waiting,
        "settled_waiting": settled_waiting,
        "available_while_waiting": available_while_waiting,
        "charged": charged,
        "policies": policies,
        "incoming": incoming,
        "expected": expected,
        "received_against": received_against,
        "entries": entries,
        "deadlocks": deadlocks,
    }


def check_invariants(found: dict[str, Any]) -> None:
    levels: dict[Key, tuple[int, int, int, int]] = found["levels"]
    assert found["deadlocks"] == 0
    assert found["ledger"] == {k: v for k, v in levels.items() if k in found["ledger"]}
    assert all(v == (0, 0, 0, 0) for k, v in levels.items() if k not in found["ledger"])
    assert {k: v[1] for k, v in levels.items() if v[1]} == {
        k: v for k, v in found["held"].items() if v
    }
    assert {k: v[2] for k, v in levels.items() if v[2]} == {
        k: v for k, v in found["waiting"].items() if v
    }
    assert {k: v[3] for k, v in levels.items() if v[3]} == {
        k: v for k, v in found["incoming"].items() if v
    }
    assert found["settled_waiting"] == 0
    for key, (mode, limit, backordered) in found["policies"].items():
        assert backordered == found["charged"].get(key, 0), key
        assert limit is None or backordered <= limit, (key, mode)
    assert found["available_while_waiting"] == 0, "units available where backorders wait"
    assert all(0 <= reserved <= on_hand for on_hand, reserved, _, _ in levels.values())
    for receipt_id, (state, quantity, received) in found["expected"].items():
        assert received == found["received_against"].get(receipt_id, 0)
        assert (state == "RECEIVED") == (received >= quantity) or state == "CANCELLED"
    replay_fills(found["entries"])


def replay_fills(entries: Sequence[Any]) -> None:
    """Per level, in version order (the order its changes were decided): every fill goes
    to the earliest backorder still waiting there."""
    queues: dict[Key, list[list[Any]]] = defaultdict(list)
    for e in entries:
        queue = queues[(e.sku, e.location_id)]
        if e.kind in ("BACKORDER", "PREORDER"):
            queue.append([e.version, e.reservation_id, e.backordered_delta])
        elif e.kind == "BACKORDER_FILL":
            head = min((q for q in queue if q[2]), key=lambda q: q[0])
            assert head[1] == e.reservation_id, f"a fill at {e.sku}@{e.location_id} skipped a turn"
            head[2] += e.backordered_delta
        elif e.backordered_delta:
            for q in queue:
                if q[1] == e.reservation_id:
                    q[2] = 0


async def reserve(
    inventory: Inventory, lines: Sequence[tuple[str, int]], rid: str | None = None
) -> pb.Reservation | str:
    try:
        response = await inventory.stub.ReserveStock(
            pb.ReserveStockRequest(
                lines=[pb.ReserveStockLine(sku=s, quantity=q) for s, q in lines],
                request_id=rid or request_id(),
            )
        )
    except FailedPrecondition as error:
        return error.reason
    return response.reservation


async def test_racing_callers_never_backorder_beyond_the_limit(
    replicas: list[Inventory], postgres_url: str
) -> None:
    await replicas[0].register(["HOT"], ["WH-1", "WH-2"])
    await replicas[0].receive("HOT", "WH-1", 6)
    await replicas[0].receive("HOT", "WH-2", 4)
    await replicas[0].set_policy("HOT", pb.INVENTORY_POLICY_MODE_BACKORDER, limit=40)

    outcomes = await asyncio.gather(*(reserve(replicas[n % 2], [("HOT", 1)]) for n in range(200)))

    made = [o for o in outcomes if isinstance(o, pb.Reservation)]
    assert Counter(o for o in outcomes if isinstance(o, str)) == {"INSUFFICIENT_STOCK": 150}
    assert sum(r.lines[0].backordered for r in made) == 40
    found = await facts(postgres_url)
    check_invariants(found)
    assert found["policies"][("HOT", "")] == ("BACKORDER", 40, 40)
    assert sum(v[2] for v in found["levels"].values()) == 40
    assert sum(v[1] for v in found["levels"].values()) == 10


async def test_fills_go_first_come_first_served_under_concurrent_receipts_releases_and_retries(
    replicas: list[Inventory], postgres_url: str
) -> None:
    skus, locations = ["S0", "S1", "S2", "S3"], ["WH-1", "WH-2"]
    first = replicas[0]
    await first.register(skus, locations)
    for sku in skus:
        for location in locations:
            await first.receive(sku, location, 2)
    await first.set_policy("S0", pb.INVENTORY_POLICY_MODE_BACKORDER, limit=15)
    await first.set_policy("S1", pb.INVENTORY_POLICY_MODE_BACKORDER, limit=8)
    await first.set_policy("S1", pb.INVENTORY_POLICY_MODE_BACKORDER, location_id="WH-2", limit=4)
    later = first.clock.now + timedelta(days=30)
    await first.set_policy("S2", pb.INVENTORY_POLICY_MODE_PREORDER, location_id="WH-1", until=later)
    for n, sku in enumerate(skus):
        await first.expect(f"PO-{sku}", sku, "WH-1", 12, first.clock.now + timedelta(days=n + 1))
    rng = random.Random(17)
    settled: list[str] = []

    async def client(n: int) -> None:
        inventory, other = replicas[n % 2], replicas[(n + 1) % 2]
        lines = [(s, rng.randint(1, 4)) for s in rng.sample(skus, rng.randint(1, 3))]
        rid = request_id()
        targets = [inventory, other] if n % 3 == 1 else [inventory]  # retried on both replicas
        answers = await asyncio.gather(*(reserve(t, lines, rid) for t in targets))
        held = [a for a in answers if isinstance(a, pb.Reservation)]
        if len(held) == len(answers) > 1:
            assert len({a.reservation_id for a in held}) == 1
        if n % 4 == 0:
            await receipt(other, rng.choice(skus), rng.choice(locations), rng.randint(1, 3), n)
        if held and n % 5 == 0:
            await other.stub.ReleaseReservation(
                pb.ReleaseReservationRequest(
                    reservation_id=held[0].reservation_id, request_id=request_id()
                )
            )
        elif held and n % 7 == 0:
            try:
                await inventory.stub.ConfirmReservation(
                    pb.ConfirmReservationRequest(
                        reservation_id=held[0].reservation_id, request_id=request_id()
                    )
                )
            except FailedPrecondition as error:
                settled.append(error.reason)
        if n % 9 == 0:
            try:
                await inventory.stub.TransferStock(
                    pb.TransferStockRequest(
                        sku=rng.choice(skus),
                        from_location_id="WH-2",
                        to_location_id="WH-1",
                        quantity=1,
                        request_id=request_id(),
                    )
                )
            except FailedPrecondition as error:
                settled.append(error.reason)

    async def receipt(inventory: Inventory, sku: str, location: str, units: int, n: int) -> None:
        against = f"PO-{sku}" if location == "WH-1" and n % 8 == 0 else ""
        request = pb.ReceiveStockRequest(
            sku=sku,
            location_id=location,
            quantity=units,
            expected_receipt_id=against,
            request_id=request_id(),
        )
        try:
            await asyncio.gather(inventory.stub.ReceiveStock(request), *(
                [replicas[0].stub.ReceiveStock(request)] if n % 12 == 0 else []
            ))  # fmt: skip
        except (FailedPrecondition, NotFound) as error:
            settled.append(error.reason)

    await asyncio.gather(*(client(n) for n in range(160)))

    assert set(settled) <= {"BACKORDER_PENDING", "INSUFFICIENT_STOCK", "EXPECTED_RECEIPT_RECEIVED"}
    found = await facts(postgres_url)
    check_invariants(found)
    kinds = Counter(e.kind for e in found["entries"])
    assert kinds["BACKORDER_FILL"] > 0
    assert kinds["BACKORDER"] > 0
    assert kinds["PREORDER"] > 0
    # Each request id was applied once: one reservation per ReserveStock id, one receipt entry
    # per ReceiveStock id, whichever replica(s) it reached.
    per_request: dict[str, set[str]] = defaultdict(set)
    receipts: Counter[str] = Counter()
    for e in found["entries"]:
        if e.kind in ("RESERVATION", "BACKORDER", "PREORDER"):
            per_request[e.request_id].add(e.reservation_id)
        elif e.kind == "RECEIPT":
            receipts[e.request_id] += 1
    assert {len(ids) for ids in per_request.values()} == {1}
    assert set(receipts.values()) == {1}
