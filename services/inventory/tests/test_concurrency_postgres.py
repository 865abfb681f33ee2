"""Many gRPC clients, two replicas, one PostgreSQL: no oversell, no deadlock, no double expiry;
partial settlements, extensions and expiries racing each other keep every invariant."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from stockroom.common.db import RequestKey, create_engine, migrate
from stockroom.common.errors import FailedPrecondition
from stockroom.common.testing import eventually
from stockroom.inventory.app import MIGRATIONS, use_cases
from stockroom.inventory.domain.model import (
    Line,
    LocationKind,
    PartialLine,
    Receipt,
    ReservationRequest,
    ReservationState,
)
from stockroom.inventory.store.transactions import Transactions
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
                        "SELECT a.sku, a.location_id,"
                        " sum(a.quantity - a.confirmed - a.released - a.expired) AS quantity"
                        " FROM reservation_allocations a JOIN reservations r USING (reservation_id)"
                        " WHERE r.state = 'ACTIVE' GROUP BY 1, 2"
                        # An active reservation may have settled all it had at one level.
                        " HAVING sum(a.quantity - a.confirmed - a.released - a.expired) <> 0"
                    )
                )
            }
            # Settled reservations hold nothing; what each allocation settled, the ledger shows.
            settled_holding = (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM reservation_allocations a"
                        " JOIN reservations r USING (reservation_id)"
                        " WHERE r.state <> 'ACTIVE'"
                        " AND a.quantity - a.confirmed - a.released - a.expired <> 0"
                    )
                )
            ).scalar_one()
            counted = {
                (r.reservation_id, r.sku, r.location_id, r.kind): int(r.units)
                for r in await connection.execute(
                    text(
                        # Summed per level: a kit line and a line of its own may hold one.
                        "SELECT reservation_id, sku, location_id, kind, sum(units) AS units FROM"
                        " (SELECT reservation_id, sku, location_id, 'SHIPMENT' AS kind,"
                        " confirmed AS units FROM reservation_allocations WHERE confirmed > 0"
                        " UNION ALL SELECT reservation_id, sku, location_id, 'RELEASE',"
                        " released FROM reservation_allocations WHERE released > 0"
                        " UNION ALL SELECT reservation_id, sku, location_id, 'EXPIRY',"
                        " expired FROM reservation_allocations WHERE expired > 0) AS settled"
                        " GROUP BY 1, 2, 3, 4"
                    )
                )
            }
            entered = {
                (r.reservation_id, r.sku, r.location_id, r.kind): int(r.units)
                for r in await connection.execute(
                    text(
                        "SELECT reservation_id, sku, location_id, kind,"
                        " -sum(reserved_delta) AS units FROM movements"
                        " WHERE kind IN ('SHIPMENT', 'RELEASE', 'EXPIRY')"
                        " GROUP BY 1, 2, 3, 4"
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
        "settled_holding": settled_holding,
        "settled_by_reservations": counted,
        "settled_by_ledger": entered,
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


# Reservation lifecycle: partial settlements, extensions and expiry racing each other.

SETTLING_REFUSALS = {
    "NOT_ENOUGH_HELD",
    "RESERVATION_CONFIRMED",
    "RESERVATION_RELEASED",
    "RESERVATION_EXPIRED",
    "RESERVATION_MIXED",
}


def assert_the_ledger_holds(facts: dict[str, object]) -> None:
    """Levels equal the ledger's sums, reserved equals what active reservations hold,
    settled ones hold nothing, every settled unit has its ledger entries, no deadlock."""
    levels: dict[tuple[str, str], tuple[int, int]] = facts["levels"]  # type: ignore[assignment]
    assert facts["deadlocks"] == 0
    assert facts["ledger"] == levels
    assert {k: r for k, (_, r) in levels.items() if r} == facts["held"]
    assert all(0 <= reserved <= on_hand for on_hand, reserved in levels.values())
    assert facts["settled_holding"] == 0
    assert facts["settled_by_reservations"] == facts["settled_by_ledger"]


async def settle(
    inventory: Inventory, way: str, reservation_id: str, parts: Sequence[pb.PartialLine] = ()
) -> pb.Reservation | str:
    """Confirm or release (all, or ``parts``): the reservation, or the refusal's reason."""
    try:
        if way == "confirm":
            confirmed = await inventory.stub.ConfirmReservation(
                pb.ConfirmReservationRequest(
                    reservation_id=reservation_id, lines=parts, request_id=request_id()
                )
            )
            return confirmed.reservation
        released = await inventory.stub.ReleaseReservation(
            pb.ReleaseReservationRequest(
                reservation_id=reservation_id, lines=parts, request_id=request_id()
            )
        )
        return released.reservation
    except FailedPrecondition as refusal:
        if refusal.reason not in SETTLING_REFUSALS:
            raise
        return refusal.reason


async def test_concurrent_partial_settlements_of_one_line_never_settle_more_than_was_held(
    replicas: list[Inventory], postgres_url: str
) -> None:
    await replicas[0].register(["A"], ["WH-1", "WH-2"])
    await replicas[0].receive("A", "WH-1", 20)
    await replicas[0].receive("A", "WH-2", 20)
    reservation = await replicas[0].reserve({"A": 30})  # WH-1 20, WH-2 10
    rid = reservation.reservation_id

    async def client(n: int) -> tuple[str, int]:
        """A part of 1 or 2 units (every third at WH-2 only), confirmed or released."""
        way = "release" if n % 4 == 0 else "confirm"
        units = 1 + n % 2
        where = "WH-2" if n % 3 == 0 else ""
        part = pb.PartialLine(sku="A", quantity=units, location_id=where)
        outcome = await settle(replicas[n % 2], way, rid, [part])
        return way, units if isinstance(outcome, pb.Reservation) else 0

    outcomes = await asyncio.gather(*(client(n) for n in range(90)))

    confirmed = sum(units for way, units in outcomes if way == "confirm")
    released = sum(units for way, units in outcomes if way == "release")
    final = (
        await replicas[1].stub.GetReservation(pb.GetReservationRequest(reservation_id=rid))
    ).reservation
    (line,) = final.lines
    assert confirmed + released == 30, "more demand than held: exactly what was held settles"
    assert (line.held, line.confirmed, line.released) == (0, confirmed, released)
    assert final.state in (pb.RESERVATION_STATE_MIXED, pb.RESERVATION_STATE_CONFIRMED)
    facts = await database_facts(postgres_url)
    assert_the_ledger_holds(facts)
    shipped = {a.location_id: a.confirmed for a in line.allocations}
    assert facts["levels"] == {
        ("A", "WH-1"): (20 - shipped["WH-1"], 0),
        ("A", "WH-2"): (20 - shipped["WH-2"], 0),
    }


async def test_extensions_racing_expiry_on_a_replica_whose_clock_is_ahead_never_both_win(
    postgres_url: str,
) -> None:
    """The second replica's clock is 6 s ahead: its sweeper expires every 5 s reservation
    as soon as it sees it, while the first replica extends each right after making it.
    Each reservation ends either extended (and never expired) or expired (and the extension
    refused), however the two interleave."""
    await migrate(MIGRATIONS, postgres_url)
    behind, ahead = ManualClock(), ManualClock()
    ahead.advance(6)
    async with (
        running_inventory(postgres_url, behind) as extender,
        running_inventory(postgres_url, ahead) as _sweeper,
    ):
        await extender.register(["A", "B"], ["WH-1", "WH-2"])
        for sku in ("A", "B"):
            for location in ("WH-1", "WH-2"):
                await extender.receive(sku, location, 200)

        async def client(n: int) -> tuple[str, int, pb.Reservation | None]:
            made = await extender.reserve({"A": 1 + n % 3, "B": 1}, ttl_s=5)
            allocations = sum(len(line.allocations) for line in made.lines)
            for _ in range(n % 3):  # a round trip or two first: more time for the sweeper
                await extender.stub.GetReservation(
                    pb.GetReservationRequest(reservation_id=made.reservation_id)
                )
            try:
                extended = await extender.stub.ExtendReservation(
                    pb.ExtendReservationRequest(
                        reservation_id=made.reservation_id,
                        ttl=Duration(seconds=600),
                        request_id=request_id(),
                    )
                )
            except FailedPrecondition as refusal:
                # On the extender's clock it is not due: only a committed expiry refuses it.
                if refusal.reason != "RESERVATION_EXPIRED":
                    raise
                return made.reservation_id, allocations, None
            return made.reservation_id, allocations, extended.reservation

        outcomes = await asyncio.gather(*(client(n) for n in range(120)))
        # A round of the sweeper that started after every extension answered: any expiry
        # decided before an extension has been applied (or refused) by then.
        marker = await extender.reserve({"A": 1}, ttl_s=1)
        await wait_until_expired(extender, marker.reservation_id)
        finals = {
            rid: (
                await extender.stub.GetReservation(pb.GetReservationRequest(reservation_id=rid))
            ).reservation
            for rid, _, _ in outcomes
        }

    facts = await database_facts(postgres_url)
    expiries: Counter[str] = facts["expiries"]  # type: ignore[assignment]
    for rid, allocations, extended in outcomes:
        final = finals[rid]
        if extended is not None:
            assert final.state == pb.RESERVATION_STATE_ACTIVE, rid
            assert final.expire_time == extended.expire_time
            assert expiries[rid] == 0, f"{rid} was extended and expired"
        else:
            assert final.state == pb.RESERVATION_STATE_EXPIRED, rid
            assert expiries[rid] == allocations
    assert_the_ledger_holds(facts)


async def wait_until_expired(inventory: Inventory, reservation_id: str) -> None:
    """A bounded wait for a sweeper."""

    async def expired() -> bool:
        found = await inventory.stub.GetReservation(
            pb.GetReservationRequest(reservation_id=reservation_id)
        )
        return found.reservation.state == pb.RESERVATION_STATE_EXPIRED

    await eventually(expired, what=f"reservation {reservation_id} expired")


async def test_a_decision_on_a_reservation_another_replica_changed_is_made_again(
    postgres_url: str,
) -> None:
    """Deterministic interleavings: a replica decides, another commits a change to the same
    reservation, then the first applies. The first must see the change (the reservation's
    version; the levels' versions) and decide again on the locked rows."""
    await migrate(MIGRATIONS, postgres_url)
    engine = create_engine(postgres_url)
    behind, ahead = ManualClock(), ManualClock()
    ahead.advance(6)
    first, second = use_cases(Transactions(engine), behind), use_cases(Transactions(engine), ahead)

    def key() -> RequestKey:
        return RequestKey(request_id(), "test", request_id())

    try:
        await first.catalog.create_item("A", "", key())
        await first.catalog.create_location("WH-1", "", LocationKind.WAREHOUSE, key())
        await first.stock.receive(Receipt("A", "WH-1", 10, "", ""), key())
        made = await first.reservations.reserve(
            ReservationRequest((Line("A", 4),), timedelta(seconds=5), "", ()), key()
        )
        rid = made.reservation_id
        apply = second.writes._apply

        async def after(change: Callable[[], Awaitable[object]]) -> None:
            async def change_then_apply(*args: Any) -> Any:
                await change()
                return await apply(*args)

            second.writes._apply = change_then_apply  # type: ignore[method-assign,assignment]

        # The second replica (clock ahead) decides the expiry; the first extends meanwhile.
        await after(lambda: first.reservations.extend(rid, key(), ttl=timedelta(seconds=600)))
        await second.reservations.expire_due(10)
        extended = await second.reservations.get(rid)
        # The second decides a part of 3 on 4 held; the first ships 2 meanwhile.
        await after(lambda: first.reservations.confirm(rid, "", key(), [PartialLine("A", 2)]))
        with pytest.raises(FailedPrecondition) as refused:
            await second.reservations.confirm(rid, "", key(), [PartialLine("A", 3)])
        settled = await second.reservations.get(rid)
    finally:
        await engine.dispose()

    assert extended.state is ReservationState.ACTIVE
    assert extended.expire_time == behind.now + timedelta(seconds=600)
    assert refused.value.reason == "NOT_ENOUGH_HELD"
    assert [(line.units_held, line.units_confirmed) for line in settled.lines] == [(2, 2)]
    facts = await database_facts(postgres_url)
    assert facts["expiries"] == Counter()
    assert facts["levels"] == {("A", "WH-1"): (8, 2)}
    assert_the_ledger_holds(facts)


async def test_a_mixed_lifecycle_workload_keeps_every_invariant(
    replicas: list[Inventory], postgres_url: str
) -> None:
    """Reservations on both replicas (some of a kit), then parts and wholes confirmed and
    released, extensions, and time moving on in the middle so unextended ones expire, all
    at once."""
    skus = [f"S{n}" for n in range(6)]
    locations = ["WH-1", "WH-2", "WH-3"]
    # The reservation that shows the sweeper ran has a SKU of its own: the workload may
    # end holding or having consumed every unit of the others.
    await replicas[0].register([*skus, "MARK"], locations)
    for sku in skus:
        for location in locations:
            await replicas[0].receive(sku, location, 8)
    await replicas[0].receive("MARK", "WH-1", 1)
    await replicas[0].stub.CreateItem(
        pb.CreateItemRequest(
            item=pb.Item(
                sku="KIT",
                components=[
                    pb.KitComponent(sku="S0", quantity=1),
                    pb.KitComponent(sku="S1", quantity=2),
                ],
            ),
            request_id=request_id(),
        )
    )
    skus = [*skus, "KIT"]
    rng = random.Random(23)
    halfway = asyncio.Event()
    started = 0

    async def client(n: int) -> None:
        nonlocal started
        inventory, other = replicas[n % 2], replicas[(n + 1) % 2]
        wanted = {s: rng.randint(1, 5) for s in rng.sample(skus, rng.randint(1, 3))}
        try:
            made = await inventory.reserve(wanted, ttl_s=rng.choice([30, 900]))
        except FailedPrecondition as refusal:
            if refusal.reason != "INSUFFICIENT_STOCK":
                raise
            return
        finally:
            started += 1
            if started == 80:
                halfway.set()
        rid = made.reservation_id
        for _ in range(rng.randint(1, 4)):
            target = rng.choice([inventory, other])
            step = rng.choice(["confirm part", "release part", "extend", "confirm", "release"])
            sku = rng.choice(list(wanted))
            part = [pb.PartialLine(sku=sku, quantity=rng.randint(1, wanted[sku]))]
            if step == "extend":
                try:
                    await target.stub.ExtendReservation(
                        pb.ExtendReservationRequest(
                            reservation_id=rid, ttl=Duration(seconds=900), request_id=request_id()
                        )
                    )
                except FailedPrecondition as refusal:
                    if refusal.reason not in SETTLING_REFUSALS:
                        raise
            else:
                way, _, partial = step.partition(" ")
                await settle(target, way, rid, part if partial else [])

    async def time_moves_on() -> None:
        await halfway.wait()
        replicas[0].clock.advance(60)  # the 30 s reservations not extended by now are due

    await asyncio.gather(time_moves_on(), *(client(n) for n in range(160)))
    marker = await replicas[0].reserve({"MARK": 1}, ttl_s=1)
    replicas[0].clock.advance(2)
    await wait_until_expired(replicas[0], marker.reservation_id)

    facts = await database_facts(postgres_url)
    assert_the_ledger_holds(facts)
    assert facts["settled_by_ledger"], "nothing was settled: the workload did not run"
