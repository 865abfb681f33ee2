"""BatchCheckAvailability: several CheckAvailability requests answered from one read, each
exactly as it would be answered alone (on SQLite and PostgreSQL).

Every answer is compared with CheckAvailability of the same request sent alone: plain lines,
a location filter, a kit and its component, unregistered and deactivated SKUs, short lines
with backorders and expected receipts. Requests never take each other's units. Bad input
is INVALID_ARGUMENT naming ``requests[i]....`` (all of it, in an error that stays small), an
unregistered location NOT_FOUND. And a batch costs the statements of one check, not one per
request: the levels are read once for every request's SKUs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from stockroom.common.contract import MAX_AVAILABILITY_CHECKS, MAX_BATCH_AVAILABILITY_LINES
from stockroom.common.db import create_engine
from stockroom.common.errors import InvalidArgument, NotFound
from stockroom.inventory.domain.model import AvailabilityCheck, Line
from stockroom.inventory.service.availability import AvailabilityReads
from stockroom.inventory.service.stock import StockService
from stockroom.inventory.service.writes import StockWrites
from stockroom.inventory.store.kits import PromiseRead
from stockroom.inventory.store.transactions import Transactions
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb

BACKORDER = pb.INVENTORY_POLICY_MODE_BACKORDER


def check(*lines: tuple[str, int], location_ids: Sequence[str] = ()) -> pb.CheckAvailabilityRequest:
    return pb.CheckAvailabilityRequest(
        lines=[pb.AvailabilityLine(sku=sku, quantity=quantity) for sku, quantity in lines],
        location_ids=location_ids,
    )


def batch(requests: Iterable[pb.CheckAvailabilityRequest]) -> pb.BatchCheckAvailabilityRequest:
    return pb.BatchCheckAvailabilityRequest(requests=requests)


async def stocked(inventory: Inventory) -> None:
    """MUG at two warehouses with a backorder policy and an expected receipt, SPOON, a kit
    SET (one MUG, two SPOONs), TEE at one warehouse, OLD deactivated."""
    await inventory.register(["MUG", "SPOON", "TEE", "OLD"], ["WH-1", "WH-2"])
    await inventory.receive("MUG", "WH-1", 6)
    await inventory.receive("MUG", "WH-2", 4)
    await inventory.receive("SPOON", "WH-1", 10)
    await inventory.receive("TEE", "WH-2", 3)
    await inventory.receive("OLD", "WH-1", 5)
    await inventory.stub.DeactivateItem(
        pb.DeactivateItemRequest(sku="OLD", reason="DISCONTINUED", request_id=request_id())
    )
    await inventory.stub.CreateItem(
        pb.CreateItemRequest(
            item=pb.Item(
                sku="SET",
                components=[
                    pb.KitComponent(sku="MUG", quantity=1),
                    pb.KitComponent(sku="SPOON", quantity=2),
                ],
            ),
            request_id=request_id(),
        )
    )
    await inventory.set_policy("MUG", BACKORDER, limit=20)
    await inventory.expect("PO-1", "MUG", "WH-1", 30, inventory.clock.now + timedelta(days=3))


# Requests sharing SKUs: a location filter, a kit before its component, unregistered and
# deactivated SKUs, short lines (backorderable, incoming, available_time), a SKU twice.
REQUESTS = [
    check(("MUG", 3), ("TEE", 1)),
    check(("MUG", 5), location_ids=["WH-2"]),
    check(("SET", 4), ("MUG", 7)),
    check(("NEW", 1), ("TEE", 2), ("OLD", 1)),
    check(("MUG", 25)),
    check(("MUG", 12), ("SPOON", 1), location_ids=["WH-2", "WH-1"]),
    check(("MUG", 12), ("MUG", 1)),
    check(("TEE", 1), location_ids=["WH-1"]),
]


async def test_each_answer_is_what_check_availability_answers_alone(
    inventory: Inventory,
) -> None:
    await stocked(inventory)

    answered = await inventory.stub.BatchCheckAvailability(batch(REQUESTS))
    alone = [await inventory.stub.CheckAvailability(request) for request in REQUESTS]

    assert list(answered.responses) == alone
    # The scenario reaches what it means to: each request's own numbers.
    plain, filtered, kit, unknown, short, short_at, twice, elsewhere = answered.responses
    assert [(line.available, line.satisfiable) for line in plain.lines] == [(10, True), (3, True)]
    assert (filtered.lines[0].available, filtered.lines[0].satisfiable) == (4, False)
    # The kit line takes 4 MUG and 8 SPOON; the MUG line after it counts what is left.
    assert [(line.available, line.satisfiable) for line in kit.lines] == [(5, True), (6, False)]
    assert [line.available for line in unknown.lines] == [0, 3, 0]
    line = short.lines[0]
    assert (line.available, line.backorderable, line.incoming) == (10, 20, 30)
    assert line.available_time.ToDatetime() == (inventory.clock.now + timedelta(days=3)).replace(
        tzinfo=None
    )
    assert (short_at.lines[0].available, short_at.lines[0].incoming) == (10, 30)
    # A short line its policy covers takes what is available: the second MUG line counts
    # what the first leaves, as one reservation of both would.
    assert [(line.available, line.satisfiable) for line in twice.lines] == [(10, False), (0, False)]
    assert [line.backorderable for line in twice.lines] == [20, 20]
    assert elsewhere.lines[0].available == 0


async def test_requests_never_take_each_others_units(inventory: Inventory) -> None:
    """Two requests for every MUG, and one for the kits that take them: each is satisfiable,
    as each would be alone."""
    await stocked(inventory)

    answered = await inventory.stub.BatchCheckAvailability(
        batch([check(("MUG", 10)), check(("MUG", 10)), check(("SET", 5)), check(("MUG", 10))])
    )

    assert [
        [(line.sku, line.available, line.satisfiable) for line in response.lines]
        for response in answered.responses
    ] == [
        [("MUG", 10, True)],
        [("MUG", 10, True)],
        [("SET", 5, True)],
        [("MUG", 10, True)],
    ]


async def test_a_batch_of_one_request_is_that_request_alone(inventory: Inventory) -> None:
    await stocked(inventory)

    for request in REQUESTS:
        answered = await inventory.stub.BatchCheckAvailability(batch([request]))

        assert list(answered.responses) == [await inventory.stub.CheckAvailability(request)]


async def test_bad_requests_are_refused_all_together_naming_each_field_under_its_request(
    inventory: Inventory,
) -> None:
    await stocked(inventory)

    with pytest.raises(InvalidArgument) as raised:
        await inventory.stub.BatchCheckAvailability(
            batch(
                [
                    check(("MUG", 1)),
                    check(("MUG 2", 1)),
                    check(("MUG", 1), ("TEE", 0)),
                    check(),
                    check(("MUG", 1), location_ids=["WH-1", "WH-1"]),
                    check(*[("MUG", 1)] * 501),
                ]
            )
        )

    assert {(v.field, v.reason) for v in raised.value.field_violations} == {
        ("requests[1].lines[0].sku", "MALFORMED"),
        ("requests[2].lines[1].quantity", "NOT_POSITIVE"),
        ("requests[3].lines", "EMPTY"),
        ("requests[4].location_ids", "DUPLICATE"),
        ("requests[5].lines", "TOO_MANY"),
    }


@pytest.mark.parametrize(
    "requests",
    [
        pytest.param([], id="no requests"),
        pytest.param([check(("MUG", 1))] * (MAX_AVAILABILITY_CHECKS + 1), id="101 requests"),
        pytest.param(
            [check(*[("MUG", 1)] * 500)] * 10 + [check(("MUG", 1))], id="5001 lines in all"
        ),
    ],
)
async def test_too_few_or_too_many_requests_or_lines_are_refused(
    inventory: Inventory, requests: list[pb.CheckAvailabilityRequest]
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await inventory.stub.BatchCheckAvailability(batch(requests))

    reason = "EMPTY" if not requests else "TOO_MANY"
    assert [(v.field, v.reason) for v in raised.value.field_violations] == [("requests", reason)]


async def test_the_most_requests_and_lines_a_batch_may_hold_are_answered(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    requests = [check(*[("MUG", 1), ("SPOON", 1)] * 25)] * MAX_AVAILABILITY_CHECKS
    assert sum(len(r.lines) for r in requests) == MAX_BATCH_AVAILABILITY_LINES

    answered = await inventory.stub.BatchCheckAvailability(batch(requests))

    assert len(answered.responses) == MAX_AVAILABILITY_CHECKS
    assert all(len(r.lines) == 50 for r in answered.responses)
    assert answered.responses[-1] == await inventory.stub.CheckAvailability(requests[-1])


async def test_every_request_is_checked_and_the_error_stays_small(inventory: Inventory) -> None:
    """100 requests of 50 bad lines: 10,000 violations, of which the error lists the first
    and says how many more there are (it must reach the caller whole)."""
    bad = check(*[("bad sku", -1)] * 50)

    with pytest.raises(InvalidArgument) as raised:
        await inventory.stub.BatchCheckAvailability(batch([bad] * MAX_AVAILABILITY_CHECKS))

    violations = raised.value.field_violations
    assert len(violations) <= 21
    assert (violations[0].field, violations[0].reason) == ("requests[0].lines[0].sku", "MALFORMED")
    assert (violations[-1].reason, violations[-1].description) == (
        "MORE_VIOLATIONS",
        f"and {10_000 - (len(violations) - 1)} more violations",
    )


async def test_an_unregistered_location_in_any_request_is_not_found(inventory: Inventory) -> None:
    await stocked(inventory)

    with pytest.raises(NotFound) as raised:
        await inventory.stub.BatchCheckAvailability(
            batch(
                [check(("MUG", 1), location_ids=["WH-1"]), check(("MUG", 1), location_ids=["WH-9"])]
            )
        )

    assert raised.value.reason == "LOCATION_NOT_FOUND"
    assert raised.value.resource is not None
    assert raised.value.resource.resource_name == "WH-9"


class CountedReads(AvailabilityReads):
    """The coalesced availability reads, remembering the SKUs each call asked for."""

    def __init__(self, transactions: Transactions) -> None:
        super().__init__(transactions)
        self.asked: list[frozenset[str]] = []

    async def of(self, skus: Iterable[str]) -> PromiseRead:
        wanted = frozenset(skus)
        self.asked.append(wanted)
        return await super().of(wanted)


async def test_a_batch_reads_once_for_every_request(
    inventory: Inventory, database_url: str
) -> None:
    """The requests' SKUs in one availability read, their locations in one statement, the
    short lines' supply in one read: a batch costs the statements of its costliest request
    alone, where separate calls cost one read each."""
    await stocked(inventory)
    checks = [
        AvailabilityCheck(
            tuple(Line(line.sku, line.quantity) for line in request.lines),
            tuple(request.location_ids),
        )
        for request in REQUESTS
    ]
    engine = create_engine(database_url)
    statements: list[str] = []

    def counted(*args: Any) -> None:
        statements.append(args[2])

    try:
        transactions = Transactions(engine)
        reads = CountedReads(transactions)
        stock = StockService(
            transactions, StockWrites(transactions, inventory.clock), reads, inventory.clock
        )
        costliest = checks[5]  # a location filter and a short line
        expected = await stock.availability(costliest.lines, costliest.location_ids)
        event.listen(engine.sync_engine, "before_cursor_execute", counted)
        await stock.availability(costliest.lines, costliest.location_ids)
        alone = len(statements)
        statements.clear()
        reads.asked.clear()

        answers = await stock.batch_availability(checks)
        together = len(statements)
        statements.clear()
        separately = [await stock.availability(c.lines, c.location_ids) for c in checks]
    finally:
        await engine.dispose()

    assert answers == separately
    assert answers[5] == expected
    assert reads.asked[0] == {line.sku for c in checks for line in c.lines}
    assert len(reads.asked) == 1 + len(checks)  # the batch's one read, then one per check
    assert together == alone
    assert len(statements) > together
