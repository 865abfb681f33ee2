"""Many gRPC clients, two replicas, one PostgreSQL: no oversell, no deadlock, no double expiry."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from stockroom.common.db import migrate
from stockroom.common.errors import FailedPrecondition
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.testing import Inventory, ManualClock, request_id, running_inventory
from stockroom.inventory.v1 import inventory_pb2 as pb

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


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
    """What the database says, in one snapshot: levels, ledger sums, active holds, deadlocks."""
    engine = create_async_engine(url, isolation_level="REPEATABLE READ")
    try:
        async with engine.begin() as connection:
            levels = {
                (r.sku, r.location_id): (r.on_hand, r.reserved)
                for r in await connection.execute(text("SELECT * FROM stock_levels"))
            }
            ledger = {
                (r.sku, r.location_id): (int(r.on_hand), int(r.reserved))
                for r in await connection.execute(
                    text(
                        "SELECT sku, location_id, sum(on_hand_delta) AS on_hand,"
                        " sum(reserved_delta) AS reserved FROM movements GROUP BY 1, 2"
                    )
                )
            }
            held = {
                (r.sku, r.location_id): int(r.quantity)
                for r in await connection.execute(
                    text(
                        "SELECT a.sku, a.location_id, sum(a.quantity) AS quantity"
                        " FROM reservation_allocations a JOIN reservations r USING (reservation_id)"
                        " WHERE r.state = 'ACTIVE' GROUP BY 1, 2"
                    )
                )
            }
            expiries = Counter(
                r.reservation_id
                for r in await connection.execute(
                    text("SELECT reservation_id FROM movements WHERE kind = 'EXPIRY'")
                )
            )
            deadlocks = (
                await connection.execute(
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
        "expiries": expiries,
        "deadlocks": deadlocks,
    }


async def reserve_or_refusal(
    inventory: Inventory, lines: Sequence[tuple[str, int]]
) -> pb.Reservation | str:
    """The reservation, or the reason it was refused."""
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


async def test_concurrent_reservations_of_the_last_units_never_oversell(
    replicas: list[Inventory], postgres_url: str
) -> None:
    await replicas[0].register(["HOT"], ["WH-1", "WH-2"])
    await replicas[0].receive("HOT", "WH-1", 30)
    await replicas[0].receive("HOT", "WH-2", 20)

    outcomes = await asyncio.gather(
        *(reserve_or_refusal(replicas[n % 2], [("HOT", 1)]) for n in range(200))
    )

    assert Counter(o if isinstance(o, str) else "RESERVED" for o in outcomes) == {
        "RESERVED": 50,
        "INSUFFICIENT_STOCK": 150,
    }
    facts = await database_facts(postgres_url)
    assert facts["levels"] == {("HOT", "WH-1"): (30, 30), ("HOT", "WH-2"): (20, 20)}
    assert facts["ledger"] == facts["levels"]


async def test_concurrent_multi_line_reservations_in_any_line_order_never_deadlock(
    replicas: list[Inventory], postgres_url: str
) -> None:
    skus, locations = ["A", "B", "C", "D"], ["WH-1", "WH-2", "WH-3"]
    await replicas[0].register(skus, locations)
    for sku in skus:
        for location in locations:
            await replicas[0].receive(sku, location, 15)
    rng = random.Random(7)
    orders = [rng.sample(skus, rng.randint(2, 4)) for _ in range(300)]

    refusals: list[str] = []

    async def client(n: int, order: list[str]) -> None:
        inventory = replicas[n % 2]
        reservation = await reserve_or_refusal(inventory, [(s, rng.randint(1, 4)) for s in order])
        if isinstance(reservation, str):
            refusals.append(reservation)
        elif n % 3 == 0:
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

    await asyncio.gather(*(client(n, order) for n, order in enumerate(orders)))

    facts = await database_facts(postgres_url)
    levels: dict[tuple[str, str], tuple[int, int]] = facts["levels"]  # type: ignore[assignment]
    assert facts["deadlocks"] == 0
    assert set(refusals) <= {"INSUFFICIENT_STOCK"}
    assert facts["ledger"] == levels
    assert {k: r for k, (_, r) in levels.items() if r} == facts["held"]
    assert all(0 <= reserved <= on_hand for on_hand, reserved in levels.values())


async def test_expiry_sweepers_on_two_replicas_expire_each_reservation_once(
    replicas: list[Inventory], postgres_url: str
) -> None:
    await replicas[0].register(["A", "B"], ["WH-1", "WH-2"])
    for sku in ("A", "B"):
        for location in ("WH-1", "WH-2"):
            await replicas[0].receive(sku, location, 100)
    reservations = await asyncio.gather(
        *(replicas[n % 2].reserve({"A": 3, "B": 4}, ttl_s=5) for n in range(40))
    )

    replicas[0].clock.advance(6)
    facts = await database_facts(postgres_url)
    for _ in range(500):
        if not facts["held"]:
            break
        await asyncio.sleep(0.02)
        facts = await database_facts(postgres_url)

    expected = Counter(
        {r.reservation_id: sum(len(line.allocations) for line in r.lines) for r in reservations}
    )
    assert facts["held"] == {}
    assert facts["expiries"] == expected
    assert facts["ledger"] == facts["levels"]
    assert all(reserved == 0 for _, reserved in facts["levels"].values())  # type: ignore[attr-defined]


async def test_mixed_batches_with_duplicates_across_replicas_apply_each_request_once(
    replicas: list[Inventory], postgres_url: str
) -> None:
    """Many SKUs in random line orders, receipts, confirms and releases, more demand than
    stock, and request ids sent twice to one replica and to both at once."""
    skus = [f"S{n}" for n in range(12)]
    locations = ["WH-1", "WH-2", "WH-3"]
    await replicas[0].register(skus, locations)
    for sku in skus:
        for location in locations:
            await replicas[0].receive(sku, location, 6)
    rng = random.Random(11)

    async def send(inventory: Inventory, request: pb.ReserveStockRequest) -> object:
        try:
            return (await inventory.stub.ReserveStock(request)).reservation
        except FailedPrecondition as error:
            return error.reason

    async def client(n: int) -> list[object]:
        lines = [(s, rng.randint(1, 5)) for s in rng.sample(skus, rng.randint(1, 4))]
        request = pb.ReserveStockRequest(
            lines=[pb.ReserveStockLine(sku=s, quantity=q) for s, q in lines],
            request_id=request_id(),
        )
        # Every third request twice on one replica, every third once on each replica.
        targets = [replicas[n % 2]]
        if n % 3 == 0:
            targets.append(replicas[n % 2])
        elif n % 3 == 1:
            targets.append(replicas[(n + 1) % 2])
        answers = list(await asyncio.gather(*(send(t, request) for t in targets)))
        first = answers[0]
        if isinstance(first, pb.Reservation) and n % 4 == 0:
            await replicas[(n + 1) % 2].stub.ConfirmReservation(
                pb.ConfirmReservationRequest(
                    reservation_id=first.reservation_id, request_id=request_id()
                )
            )
        elif isinstance(first, pb.Reservation) and n % 4 == 1:
            await replicas[n % 2].stub.ReleaseReservation(
                pb.ReleaseReservationRequest(
                    reservation_id=first.reservation_id, request_id=request_id()
                )
            )
        if n % 10 == 0:
            await replicas[n % 2].receive(rng.choice(skus), rng.choice(locations), 3)
        return answers

    results = await asyncio.gather(*(client(n) for n in range(240)))

    refusals = [a for answers in results for a in answers if isinstance(a, str)]
    assert set(refusals) == {"INSUFFICIENT_STOCK"}, "the demand was meant to outrun the stock"
    for answers in results:
        held = [a for a in answers if isinstance(a, pb.Reservation)]
        if len(held) == len(answers):
            assert len({a.reservation_id for a in held}) == 1
    facts = await database_facts(postgres_url)
    levels: dict[tuple[str, str], tuple[int, int]] = facts["levels"]  # type: ignore[assignment]
    assert facts["deadlocks"] == 0
    assert facts["ledger"] == levels
    assert {k: r for k, (_, r) in levels.items() if r} == facts["held"]
    assert all(0 <= reserved <= on_hand for on_hand, reserved in levels.values())
    assert await reservations_per_request_id(postgres_url) == {1}


async def reservations_per_request_id(url: str) -> set[int]:
    """How many reservations each ReserveStock request id produced (all must be 1)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT count(DISTINCT reservation_id) FROM movements"
                    " WHERE kind = 'RESERVATION' GROUP BY request_id"
                )
            )
            return {int(count) for (count,) in rows}
    finally:
        await engine.dispose()


async def test_watchers_and_pages_see_every_entry_once_in_order_under_concurrent_commits(
    replicas: list[Inventory], postgres_url: str
) -> None:
    skus = ["A", "B", "C"]
    await replicas[0].register(skus, ["WH-1", "WH-2"])
    watch = replicas[1].stub.WatchStock(pb.WatchStockRequest(skus=skus))
    stream = watch.__aiter__()
    await replicas[0].receive("A", "WH-1", 1)
    seen = await take_movements(stream, 1)

    async def writer(n: int) -> None:
        inventory = replicas[n % 2]
        await inventory.receive(skus[n % 3], ["WH-1", "WH-2"][n % 2], 5)
        if n % 2:
            await reserve_or_refusal(inventory, [(skus[(n + 1) % 3], 1), (skus[n % 3], 2)])

    await asyncio.gather(*(writer(n) for n in range(120)))
    everything = await all_pages(replicas[0])
    seen += await take_movements(stream, len(everything) - len(seen))
    watch.cancel()

    positions = [m.sequence for m in everything]
    assert positions == sorted(set(positions)), "pages out of order or repeated"
    assert [m.sequence for m in seen] == positions, "the watcher missed or repeated entries"
    assert len(everything) == await count_movements(postgres_url)


async def count_movements(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return int(
                (await connection.execute(text("SELECT count(*) FROM movements"))).scalar_one()
            )
    finally:
        await engine.dispose()


async def take_movements(
    stream: AsyncIterator[pb.WatchStockResponse], count: int
) -> list[pb.Movement]:
    taken: list[pb.Movement] = []
    while len(taken) < count:
        taken.extend((await anext(stream)).movements)
    return taken


async def all_pages(inventory: Inventory) -> list[pb.Movement]:
    """Every entry through ListMovements, a few at a time."""
    entries: list[pb.Movement] = []
    token = ""
    for _ in range(1000):
        page = await inventory.stub.ListMovements(
            pb.ListMovementsRequest(page_size=7, page_token=token)
        )
        entries.extend(page.movements)
        token = page.next_page_token
        if not token:
            return entries
    raise AssertionError("more than 1000 pages")
