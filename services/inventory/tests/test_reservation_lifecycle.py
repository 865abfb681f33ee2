"""A reservation's life over gRPC on SQLite and PostgreSQL: confirming and releasing part of
it, the state it ends in, extending it, expiring what is still held, listing them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from stockroom.common.db import encode_page_token
from stockroom.common.errors import FailedPrecondition, InvalidArgument, NotFound
from stockroom.common.testing import eventually
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def stocked(inventory: Inventory) -> Inventory:
    await inventory.register(["MUG", "TEE"], ["WH-1", "WH-2"])
    await inventory.receive("MUG", "WH-1", 6)
    await inventory.receive("MUG", "WH-2", 4)
    await inventory.receive("TEE", "WH-1", 5)
    return inventory


def part(sku: str, quantity: int, location_id: str = "") -> pb.PartialLine:
    return pb.PartialLine(sku=sku, quantity=quantity, location_id=location_id)


async def confirm(
    inventory: Inventory, reservation_id: str, *parts: pb.PartialLine, rid: str = ""
) -> pb.Reservation:
    response = await inventory.stub.ConfirmReservation(
        pb.ConfirmReservationRequest(
            reservation_id=reservation_id, lines=parts, request_id=rid or request_id()
        )
    )
    return response.reservation


async def release(
    inventory: Inventory, reservation_id: str, *parts: pb.PartialLine
) -> pb.Reservation:
    response = await inventory.stub.ReleaseReservation(
        pb.ReleaseReservationRequest(
            reservation_id=reservation_id, lines=parts, request_id=request_id()
        )
    )
    return response.reservation


async def extend(
    inventory: Inventory,
    reservation_id: str,
    *,
    ttl_s: int | None = None,
    until: datetime | None = None,
    rid: str = "",
) -> pb.Reservation:
    request = pb.ExtendReservationRequest(
        reservation_id=reservation_id, request_id=rid or request_id()
    )
    if ttl_s is not None:
        request.ttl.CopyFrom(Duration(seconds=ttl_s))
    if until is not None:
        stamp = Timestamp()
        stamp.FromDatetime(until)
        request.expire_time.CopyFrom(stamp)
    return (await inventory.stub.ExtendReservation(request)).reservation


async def get(inventory: Inventory, reservation_id: str) -> pb.Reservation:
    response = await inventory.stub.GetReservation(
        pb.GetReservationRequest(reservation_id=reservation_id)
    )
    return response.reservation


def counts(reservation: pb.Reservation) -> dict[str, tuple[int, int, int, int]]:
    """Per line: (held, confirmed, released, expired)."""
    return {
        line.sku: (line.held, line.confirmed, line.released, line.expired)
        for line in reservation.lines
    }


def at(reservation: pb.Reservation, sku: str) -> dict[str, tuple[int, int, int, int]]:
    """Per location of one line: (held, confirmed, released, expired)."""
    (line,) = [line for line in reservation.lines if line.sku == sku]
    return {a.location_id: (a.held, a.confirmed, a.released, a.expired) for a in line.allocations}


async def level(inventory: Inventory, sku: str, location_id: str) -> tuple[int, int]:
    found = await inventory.level(sku, location_id)
    return found.on_hand, found.reserved


async def test_confirming_part_of_a_line_ships_it_and_the_rest_stays_held(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    reservation = await inventory.reserve({"MUG": 5, "TEE": 2})

    after = await confirm(inventory, reservation.reservation_id, part("MUG", 2))

    assert after.state == pb.RESERVATION_STATE_ACTIVE
    assert counts(after) == {"MUG": (3, 2, 0, 0), "TEE": (2, 0, 0, 0)}
    assert [line.quantity for line in after.lines] == [5, 2]
    assert await level(inventory, "MUG", "WH-1") == (4, 3)
    assert await get(inventory, reservation.reservation_id) == after
    shipped = await inventory.stub.ListMovements(pb.ListMovementsRequest(sku="MUG"))
    last = shipped.movements[-1]
    assert (last.kind, last.on_hand_delta, last.reserved_delta) == (
        pb.MOVEMENT_KIND_SHIPMENT,
        -2,
        -2,
    )
    assert last.reservation_id == reservation.reservation_id


async def test_a_part_comes_from_the_location_holding_most_unless_one_is_named(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    reservation = await inventory.reserve({"MUG": 9})  # WH-1 6, WH-2 3
    assert at(reservation, "MUG") == {"WH-1": (6, 0, 0, 0), "WH-2": (3, 0, 0, 0)}

    first = await confirm(inventory, reservation.reservation_id, part("MUG", 4))
    second = await release(inventory, reservation.reservation_id, part("MUG", 1, "WH-1"))
    third = await confirm(inventory, reservation.reservation_id, part("MUG", 2))

    assert at(first, "MUG") == {"WH-1": (2, 4, 0, 0), "WH-2": (3, 0, 0, 0)}
    assert at(second, "MUG") == {"WH-1": (1, 4, 1, 0), "WH-2": (3, 0, 0, 0)}
    # WH-2 now holds the most: the next part comes from there.
    assert at(third, "MUG") == {"WH-1": (1, 4, 1, 0), "WH-2": (1, 2, 0, 0)}
    assert await level(inventory, "MUG", "WH-1") == (2, 1)
    assert await level(inventory, "MUG", "WH-2") == (2, 1)


async def test_confirming_or_releasing_more_than_is_held_is_refused_and_changes_nothing(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    reservation = await inventory.reserve({"MUG": 3, "TEE": 2})
    await confirm(inventory, reservation.reservation_id, part("MUG", 2))

    with pytest.raises(FailedPrecondition) as over_confirm:
        await confirm(inventory, reservation.reservation_id, part("TEE", 1), part("MUG", 2))
    with pytest.raises(FailedPrecondition) as over_release:
        await release(inventory, reservation.reservation_id, part("TEE", 3))
    with pytest.raises(InvalidArgument) as not_a_line:
        await confirm(inventory, reservation.reservation_id, part("CAP", 1))
    with pytest.raises(InvalidArgument) as not_there:
        await release(inventory, reservation.reservation_id, part("TEE", 1, "WH-2"))

    assert over_confirm.value.reason == "NOT_ENOUGH_HELD"
    assert [(v.subject, v.description) for v in over_confirm.value.precondition_violations] == [
        ("MUG", "lines[1]: requested 2, held 1")
    ]
    assert over_release.value.reason == "NOT_ENOUGH_HELD"
    assert {(v.field, v.reason) for v in not_a_line.value.field_violations} == {
        ("lines[0].sku", "NOT_IN_RESERVATION")
    }
    assert {(v.field, v.reason) for v in not_there.value.field_violations} == {
        ("lines[0].location_id", "NOT_IN_RESERVATION")
    }
    now = await get(inventory, reservation.reservation_id)
    assert counts(now) == {"MUG": (1, 2, 0, 0), "TEE": (2, 0, 0, 0)}
    assert await level(inventory, "TEE", "WH-1") == (5, 2)


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        (["confirm MUG", "confirm TEE"], pb.RESERVATION_STATE_CONFIRMED),
        (["release MUG", "release TEE"], pb.RESERVATION_STATE_RELEASED),
        (["confirm MUG", "release TEE"], pb.RESERVATION_STATE_MIXED),
        (["release MUG", "confirm"], pb.RESERVATION_STATE_MIXED),
        (["confirm TEE", "release"], pb.RESERVATION_STATE_MIXED),
    ],
)
async def test_once_every_unit_is_settled_the_state_says_how(
    inventory: Inventory, steps: list[str], state: pb.ReservationState.ValueType
) -> None:
    await stocked(inventory)
    reservation = await inventory.reserve({"MUG": 2, "TEE": 1})
    quantities = {"MUG": 2, "TEE": 1}

    after = reservation
    for step in steps:
        way, _, sku = step.partition(" ")
        parts = [part(sku, quantities[sku])] if sku else []
        after = await (confirm if way == "confirm" else release)(
            inventory, reservation.reservation_id, *parts
        )

    assert after.state == state
    assert all(line.held == 0 for line in after.lines)
    assert await level(inventory, "MUG", "WH-1") == (6 - after.lines[0].confirmed, 0)


async def test_a_settled_reservation_takes_no_part_and_a_mixed_one_cannot_be_released(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    confirmed = await inventory.reserve({"MUG": 1})
    await confirm(inventory, confirmed.reservation_id)
    mixed = await inventory.reserve({"MUG": 1, "TEE": 1})
    await confirm(inventory, mixed.reservation_id, part("MUG", 1))
    await release(inventory, mixed.reservation_id)

    again = await confirm(inventory, confirmed.reservation_id)  # all of it again: a no-op
    with pytest.raises(FailedPrecondition) as part_of_confirmed:
        await confirm(inventory, confirmed.reservation_id, part("MUG", 1))
    with pytest.raises(FailedPrecondition) as release_mixed:
        await release(inventory, mixed.reservation_id)
    with pytest.raises(FailedPrecondition) as confirm_mixed:
        await confirm(inventory, mixed.reservation_id)

    assert again.state == pb.RESERVATION_STATE_CONFIRMED
    assert part_of_confirmed.value.reason == "RESERVATION_CONFIRMED"
    assert release_mixed.value.reason == "RESERVATION_MIXED"
    assert confirm_mixed.value.reason == "RESERVATION_MIXED"


async def test_expiry_gives_back_only_what_is_still_held(inventory: Inventory) -> None:
    await stocked(inventory)
    partly_confirmed = await inventory.reserve({"MUG": 4, "TEE": 2}, ttl_s=60)
    partly_released = await inventory.reserve({"TEE": 3}, ttl_s=60)
    await confirm(inventory, partly_confirmed.reservation_id, part("MUG", 3))
    await release(inventory, partly_released.reservation_id, part("TEE", 1))

    inventory.clock.advance(61)
    first = await wait_for_state(
        inventory, partly_confirmed.reservation_id, pb.RESERVATION_STATE_MIXED
    )
    second = await wait_for_state(
        inventory, partly_released.reservation_id, pb.RESERVATION_STATE_EXPIRED
    )

    assert counts(first) == {"MUG": (0, 3, 0, 1), "TEE": (0, 0, 0, 2)}
    assert counts(second) == {"TEE": (0, 0, 1, 2)}
    assert await level(inventory, "MUG", "WH-1") == (3, 0)
    assert await level(inventory, "TEE", "WH-1") == (5, 0)
    expiries = await inventory.stub.ListMovements(pb.ListMovementsRequest(sku="MUG"))
    assert [m.reserved_delta for m in expiries.movements if m.kind == pb.MOVEMENT_KIND_EXPIRY] == [
        -1
    ]


async def test_a_repeated_partial_confirm_is_applied_once(inventory: Inventory) -> None:
    await stocked(inventory)
    reservation = await inventory.reserve({"MUG": 5})
    rid = request_id()

    first, second = await asyncio.gather(
        confirm(inventory, reservation.reservation_id, part("MUG", 2), rid=rid),
        confirm(inventory, reservation.reservation_id, part("MUG", 2), rid=rid),
    )
    third = await confirm(inventory, reservation.reservation_id, part("MUG", 2), rid=rid)

    assert first == second == third
    assert counts(await get(inventory, reservation.reservation_id)) == {"MUG": (3, 2, 0, 0)}
    with pytest.raises(InvalidArgument) as reused:
        await confirm(inventory, reservation.reservation_id, part("MUG", 1), rid=rid)
    assert reused.value.reason == "REQUEST_ID_REUSED"


async def test_extending_sets_a_later_expiry_and_the_sweeper_honours_it(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    reservation = await inventory.reserve({"MUG": 2}, ttl_s=60)
    start = inventory.clock.now

    by_ttl = await extend(inventory, reservation.reservation_id, ttl_s=300)
    earlier = await extend(inventory, reservation.reservation_id, ttl_s=100)
    by_time = await extend(
        inventory, reservation.reservation_id, until=datetime(2030, 1, 1, 0, 10, tzinfo=UTC)
    )
    inventory.clock.advance(400)  # past the first and second expiry, before the third
    marker = await inventory.reserve({"TEE": 1}, ttl_s=1)
    inventory.clock.advance(1)
    await wait_for_state(inventory, marker.reservation_id, pb.RESERVATION_STATE_EXPIRED)

    assert start == datetime(2030, 1, 1, tzinfo=UTC)
    assert by_ttl.expire_time.ToDatetime(tzinfo=UTC) == datetime(2030, 1, 1, 0, 5, tzinfo=UTC)
    assert earlier == by_ttl, "an extension never brings the expiry forward"
    assert by_time.expire_time.ToDatetime(tzinfo=UTC) == datetime(2030, 1, 1, 0, 10, tzinfo=UTC)
    still = await get(inventory, reservation.reservation_id)
    assert still.state == pb.RESERVATION_STATE_ACTIVE
    inventory.clock.advance(200)
    gone = await wait_for_state(inventory, reservation.reservation_id, pb.RESERVATION_STATE_EXPIRED)
    assert counts(gone) == {"MUG": (0, 0, 0, 2)}


async def test_extension_errors_name_what_is_wrong(inventory: Inventory) -> None:
    await stocked(inventory)
    confirmed = await inventory.reserve({"MUG": 1})
    await confirm(inventory, confirmed.reservation_id)
    lapsed = await inventory.reserve({"MUG": 1}, ttl_s=5)
    live = await inventory.reserve({"TEE": 1}, ttl_s=60)

    with pytest.raises(NotFound) as unknown:
        await extend(inventory, UNKNOWN, ttl_s=60)
    with pytest.raises(FailedPrecondition) as settled:
        await extend(inventory, confirmed.reservation_id, ttl_s=60)
    with pytest.raises(InvalidArgument) as too_far:
        await extend(inventory, live.reservation_id, until=datetime(2030, 1, 9, tzinfo=UTC))
    with pytest.raises(InvalidArgument) as in_the_past:
        await extend(inventory, live.reservation_id, until=datetime(2029, 12, 31, tzinfo=UTC))
    with pytest.raises(InvalidArgument) as no_expiry:
        await extend(inventory, live.reservation_id)
    inventory.clock.advance(6)
    with pytest.raises(FailedPrecondition) as expired:
        await extend(inventory, lapsed.reservation_id, ttl_s=60)

    assert unknown.value.reason == "RESERVATION_NOT_FOUND"
    assert settled.value.reason == "RESERVATION_CONFIRMED"
    assert expired.value.reason == "RESERVATION_EXPIRED"
    assert {(v.field, v.reason) for v in too_far.value.field_violations} == {
        ("expire_time", "OUT_OF_RANGE")
    }
    assert {(v.field, v.reason) for v in in_the_past.value.field_violations} == {
        ("expire_time", "OUT_OF_RANGE")
    }
    assert {v.field for v in no_expiry.value.field_violations} == {"expire_time"}
    assert (await get(inventory, live.reservation_id)).expire_time == live.expire_time


async def test_a_repeated_extension_answers_what_it_answered_first(inventory: Inventory) -> None:
    await stocked(inventory)
    reservation = await inventory.reserve({"MUG": 1}, ttl_s=60)
    rid = request_id()

    first = await extend(inventory, reservation.reservation_id, ttl_s=120, rid=rid)
    inventory.clock.advance(30)
    again = await extend(inventory, reservation.reservation_id, ttl_s=120, rid=rid)

    assert again == first
    assert (await get(inventory, reservation.reservation_id)).expire_time == first.expire_time


async def test_reservations_are_listed_by_reference_and_state_a_page_at_a_time(
    inventory: Inventory,
) -> None:
    await stocked(inventory)
    made: list[pb.Reservation] = []
    for n in range(5):
        response = await inventory.stub.ReserveStock(
            pb.ReserveStockRequest(
                lines=[pb.ReserveStockLine(sku="TEE", quantity=1)],
                reference="order-1" if n % 2 == 0 else "order-2",
                request_id=request_id(),
            )
        )
        made.append(response.reservation)
        inventory.clock.advance(1)
    await confirm(inventory, made[2].reservation_id)

    pages: list[list[str]] = []
    token = ""
    for _ in range(10):
        page = await inventory.stub.ListReservations(
            pb.ListReservationsRequest(reference="order-1", page_size=2, page_token=token)
        )
        pages.append([r.reservation_id for r in page.reservations])
        token = page.next_page_token
        if not token:
            break
    active = await inventory.stub.ListReservations(
        pb.ListReservationsRequest(state=pb.RESERVATION_STATE_ACTIVE)
    )
    confirmed = await inventory.stub.ListReservations(
        pb.ListReservationsRequest(reference="order-1", state=pb.RESERVATION_STATE_CONFIRMED)
    )
    first_page = await inventory.stub.ListReservations(
        pb.ListReservationsRequest(reference="order-1", page_size=1)
    )
    with pytest.raises(InvalidArgument) as other_filters:
        await inventory.stub.ListReservations(
            pb.ListReservationsRequest(reference="order-2", page_token=first_page.next_page_token)
        )

    ids = [r.reservation_id for r in made]
    assert pages == [[ids[0], ids[2]], [ids[4]]]
    assert [r.reservation_id for r in active.reservations] == [ids[0], ids[1], ids[3], ids[4]]
    assert [r.reservation_id for r in confirmed.reservations] == [ids[2]]
    assert confirmed.reservations[0].lines[0].confirmed == 1
    assert {(v.field, v.reason) for v in other_filters.value.field_violations} == {
        ("page_token", "INVALID_PAGE_TOKEN")
    }


async def wait_for_state(
    inventory: Inventory, reservation_id: str, wanted: pb.ReservationState.ValueType
) -> pb.Reservation:
    """The reservation once it is in ``wanted`` (a bounded wait for the sweeper)."""

    async def reached() -> bool:
        return (await get(inventory, reservation_id)).state == wanted

    await eventually(reached, what=f"reservation {reservation_id} in state {wanted}")
    return await get(inventory, reservation_id)


@pytest.mark.parametrize("moment", ["not a time", "2030-01-01T00:00:00", "9" * 40])
async def test_a_reservation_page_token_without_a_real_cursor_is_refused(
    inventory: Inventory, moment: str
) -> None:
    """Tokens are opaque, but one forged with the right filters must still be refused."""
    forged = encode_page_token((moment, UNKNOWN), {"reference": "", "state": ""})

    with pytest.raises(InvalidArgument) as raised:
        await inventory.stub.ListReservations(pb.ListReservationsRequest(page_token=forged))

    assert {(v.field, v.reason) for v in raised.value.field_violations} == {
        ("page_token", "INVALID_PAGE_TOKEN")
    }


async def test_a_part_of_a_kit_line_is_whole_kits_of_every_component(
    inventory: Inventory,
) -> None:
    await stocked(inventory)  # MUG: 6 at WH-1, 4 at WH-2; TEE: 5 at WH-1
    await inventory.stub.CreateItem(
        pb.CreateItemRequest(
            item=pb.Item(
                sku="SET",
                components=[
                    pb.KitComponent(sku="MUG", quantity=2),
                    pb.KitComponent(sku="TEE", quantity=1),
                ],
            ),
            request_id=request_id(),
        )
    )
    reservation = await inventory.reserve({"SET": 4, "MUG": 1})

    shipped = await confirm(inventory, reservation.reservation_id, part("SET", 3))
    with pytest.raises(FailedPrecondition) as too_many:
        await release(inventory, reservation.reservation_id, part("SET", 2))
    rest = await release(inventory, reservation.reservation_id, part("SET", 1))

    kit, mug = shipped.lines
    assert (kit.held, kit.confirmed) == (1, 3)  # in kits
    assert {c.sku: (c.held, c.confirmed) for c in kit.components} == {
        "MUG": (2, 6),
        "TEE": (1, 3),
    }
    assert (mug.held, mug.confirmed) == (1, 0), "the MUG line is a line of its own"
    assert too_many.value.reason == "NOT_ENOUGH_HELD"
    assert [(v.subject, v.description) for v in too_many.value.precondition_violations] == [
        ("SET", "lines[0]: requested 2, held 1")
    ]
    assert (rest.lines[0].held, rest.lines[0].released) == (0, 1)
    assert rest.state == pb.RESERVATION_STATE_ACTIVE  # the MUG line still holds one
    final = await confirm(inventory, reservation.reservation_id)
    assert final.state == pb.RESERVATION_STATE_MIXED
    mugs = [await level(inventory, "MUG", loc) for loc in ("WH-1", "WH-2")]
    assert sum(on_hand for on_hand, _ in mugs) == 10 - 6 - 1
    assert all(reserved == 0 for _, reserved in mugs)
    assert await level(inventory, "TEE", "WH-1") == (2, 0)


async def test_a_part_ships_what_is_held_while_the_backorder_keeps_waiting(
    inventory: Inventory,
) -> None:
    await inventory.register(["CAP"], ["WH-1"])
    await inventory.receive("CAP", "WH-1", 3)
    await inventory.set_policy("CAP", pb.INVENTORY_POLICY_MODE_BACKORDER, limit=5)
    waiting = await inventory.reserve({"CAP": 5})  # 3 held, 2 backordered
    other = await inventory.reserve({"CAP": 1})  # all of it backordered

    shipped = await confirm(inventory, waiting.reservation_id, part("CAP", 3))
    with pytest.raises(FailedPrecondition) as not_held:
        await confirm(inventory, waiting.reservation_id, part("CAP", 1))
    with pytest.raises(FailedPrecondition) as pending:
        await confirm(inventory, waiting.reservation_id)
    await inventory.receive("CAP", "WH-1", 2)  # fills the first backorder in line
    filled = await get(inventory, waiting.reservation_id)
    done = await confirm(inventory, waiting.reservation_id)
    given_up = await release(inventory, other.reservation_id)

    assert shipped.state == pb.RESERVATION_STATE_ACTIVE
    assert (shipped.lines[0].held, shipped.lines[0].confirmed) == (0, 3)
    assert shipped.lines[0].backordered == 2
    assert not_held.value.reason == "NOT_ENOUGH_HELD"
    assert pending.value.reason == "BACKORDER_PENDING"
    assert (filled.lines[0].held, filled.lines[0].backordered) == (2, 0)
    assert (done.state, done.lines[0].confirmed) == (pb.RESERVATION_STATE_CONFIRMED, 5)
    assert given_up.state == pb.RESERVATION_STATE_RELEASED
    assert given_up.lines[0].backordered == 0
    level = await inventory.level("CAP", "WH-1")
    assert (level.on_hand, level.reserved, level.backordered) == (0, 0, 0)
    verified = await inventory.stub.VerifyLedger(pb.VerifyLedgerRequest())
    assert (verified.levels_checked, list(verified.mismatches)) == (1, [])
