"""The one-statement writes on PostgreSQL do exactly what the transactions do.

Two databases, one clock, the same random operations: one inventory writes
with the single statements (and falls back to its transactions where they do
not apply), the other with the transactions only. Every answer, replays of
earlier requests included, and every row must come out the same, reservation
ids aside (each side draws its own; they are compared by order of appearance).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from stockroom.common.db import RequestKey, create_engine, migrate
from stockroom.common.errors import StockroomError
from stockroom.common.testing import temporary_database
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.domain.model import (
    Item,
    LevelChange,
    Line,
    Location,
    LocationKind,
    Receipt,
    Reservation,
    ReservationRequest,
    SafetyStockChange,
)
from stockroom.inventory.store import tables
from stockroom.inventory.store.catalog import CatalogStore
from stockroom.inventory.store.reservations import ReservationStore
from stockroom.inventory.store.stock import StockStore
from stockroom.inventory.store.transactions import Transactions
from stockroom.inventory.testing import ManualClock

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SKUS = ("A", "B", "C")
LOCATIONS = ("L1", "L2", "L3")
# Rows compared after every example.
TABLES = (
    tables.stock_levels,
    tables.movements,
    tables.reservations,
    tables.reservation_allocations,
    tables.request_records,
    tables.ledger_head,
)
# How each method's recorded response decodes (the statements and the
# transactions may format a timestamp differently; the values must agree).
RESPONSE_TYPES: dict[str, type] = {
    "receive": LevelChange,
    "safety": LevelChange,
    "reserve": Reservation,
    "confirm": Reservation,
    "release": Reservation,
    "CreateItem": Item,
    "CreateLocation": Location,
}

operations = st.one_of(
    st.tuples(
        st.just("receive"),
        st.sampled_from((*SKUS, "UNKNOWN")),
        st.sampled_from(LOCATIONS),
        st.integers(1, 20),
    ),
    st.tuples(
        st.just("reserve"),
        st.dictionaries(st.sampled_from(SKUS), st.integers(1, 25), min_size=1, max_size=3),
        st.lists(st.sampled_from((*LOCATIONS, "NOWHERE")), unique=True, max_size=2),
        st.integers(5, 60),
    ),
    st.tuples(st.sampled_from(("confirm", "release")), st.integers(0, 30)),
    st.tuples(
        st.just("safety"), st.sampled_from(SKUS), st.sampled_from(LOCATIONS), st.integers(0, 6)
    ),
    st.tuples(st.just("time"), st.integers(1, 40)),
    st.tuples(st.just("replay"), st.integers(0, 60)),
)


@dataclass
class Side:
    """One inventory and what it has answered so far."""

    engine: AsyncEngine
    clock: ManualClock
    one_statement_writes: bool
    reservation_ids: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        transactions = Transactions(self.engine, one_statement_writes=self.one_statement_writes)
        self.catalog = CatalogStore(transactions, self.clock)
        self.stock = StockStore(transactions, self.clock)
        self.reservations = ReservationStore(transactions, self.clock)

    def alias(self, value: Any) -> Any:
        """``value`` as plain data, with each reservation id replaced by its order of birth."""
        if isinstance(value, dict):
            return {
                k: self._id(v) if k == "reservation_id" and v else self.alias(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.alias(v) for v in value]
        return value

    def _id(self, reservation_id: str) -> str:
        return self.aliases.setdefault(reservation_id, f"reservation-{len(self.aliases)}")


async def answer(side: Side, call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        result = await call()
    except StockroomError as error:
        return ("refused", type(error).__name__, error.reason)
    plain = side.alias(msgspec.to_builtins(result))
    if isinstance(plain, dict) and plain.get("state") == "ACTIVE":
        side.reservation_ids.append(result.reservation_id)
    return plain


def key(method: str) -> RequestKey:
    return RequestKey(str(uuid.uuid4()), method, uuid.uuid4().hex)


def call_for(side: Side, op: tuple[Any, ...], k: RequestKey) -> Callable[[], Awaitable[Any]]:
    kind = op[0]
    if kind == "receive":
        return lambda: side.stock.receive(Receipt(op[1], op[2], op[3], "", "ref"), k)
    if kind == "reserve":
        lines = tuple(Line(s, q) for s, q in op[1].items())
        request = ReservationRequest(lines, timedelta(seconds=op[3]), "order", tuple(op[2]))
        return lambda: side.reservations.reserve(request, k)
    if kind == "safety":
        change = SafetyStockChange(op[1], op[2], op[3], None)
        return lambda: side.stock.set_safety_stock(change, k)
    ids = side.reservation_ids
    reservation_id = ids[op[1] % len(ids)] if ids else "00000000-0000-4000-8000-000000000000"
    if kind == "confirm":
        return lambda: side.reservations.confirm(reservation_id, "shipment", k)
    return lambda: side.reservations.release(reservation_id, "cancelled", k)


async def rows(side: Side) -> dict[str, list[str]]:
    """Every row of every table, as sorted JSON with reservation ids aliased."""
    found: dict[str, list[str]] = {}
    async with side.engine.connect() as connection:
        for table in TABLES:
            result = await connection.execute(select(table))
            found[table.name] = sorted(
                msgspec.json.encode(side.alias(_plain(dict(row._mapping)))).decode()
                for row in result
            )
    return found


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    if "response" in row:
        typed: object = msgspec.json.decode(row["response"], type=RESPONSE_TYPES[row["method"]])
        row["response"] = msgspec.to_builtins(typed)
    return msgspec.to_builtins(row)  # type: ignore[no-any-return]


async def arrange(side: Side, keys: list[RequestKey]) -> None:
    """Empty tables, the catalog, and some stock at the first two locations."""
    async with side.engine.begin() as connection:
        for table in reversed(tables.metadata.sorted_tables):
            if table is not tables.ledger_head:
                await connection.execute(table.delete())
        await connection.execute(tables.ledger_head.update().values(last_sequence=0))
    next_key = iter(keys)
    for sku in SKUS:
        await side.catalog.create_item(sku, sku, next(next_key))
    for location in LOCATIONS:
        await side.catalog.create_location(location, location, LocationKind.STORE, next(next_key))
    for sku in SKUS:
        for location in LOCATIONS[:2]:
            await side.stock.receive(Receipt(sku, location, 10, "", ""), next(next_key))


async def run(ops: list[tuple[Any, ...]], one: Side, other: Side) -> None:
    setup = [key("CreateItem") for _ in SKUS] + [key("CreateLocation") for _ in LOCATIONS]
    setup += [key("receive") for _ in range(len(SKUS) * 2)]
    for side in (one, other):
        side.reservation_ids.clear()
        side.aliases.clear()
        await arrange(side, setup)
    made: list[tuple[tuple[Any, ...], RequestKey]] = []
    for op in ops:
        if op[0] == "time":
            one.clock.advance(op[1])  # the clock both sides share
            continue
        if op[0] == "replay":
            if not made:
                continue
            op, k = made[op[1] % len(made)]
        else:
            if op[0] in ("confirm", "release") and one.reservation_ids:
                op = (op[0], op[1] % len(one.reservation_ids))  # the same one on replays
            k = key(op[0])
            made.append((op, k))
        answers = [await answer(side, call_for(side, op, k)) for side in (one, other)]
        assert answers[0] == answers[1], op
    assert await rows(one) == await rows(other)


@pytest.fixture
async def two_databases(postgres_url: str) -> AsyncIterator[tuple[str, str]]:
    async with temporary_database() as other_url:
        for url in (postgres_url, other_url):
            await migrate(MIGRATIONS, url)
        yield postgres_url, other_url


@pytest.mark.timeout(600)
async def test_one_statement_writes_answer_and_write_exactly_as_the_transactions(
    two_databases: tuple[str, str],
) -> None:
    await asyncio.to_thread(compare_on, *two_databases)


def compare_on(fast_url: str, reference_url: str) -> None:
    """Hypothesis drives the examples synchronously, so they get an event loop of their own."""
    loop = asyncio.new_event_loop()
    clock = ManualClock()
    fast = Side(create_engine(fast_url), clock, one_statement_writes=True)
    reference = Side(create_engine(reference_url), clock, one_statement_writes=False)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(operations, min_size=1, max_size=25))
    def sequences(ops: list[tuple[Any, ...]]) -> None:
        loop.run_until_complete(run(ops, fast, reference))

    try:
        sequences()
    finally:
        for side in (fast, reference):
            loop.run_until_complete(side.engine.dispose())
        loop.close()
