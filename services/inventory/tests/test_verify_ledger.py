"""VerifyLedger on SQLite and PostgreSQL: a ledger the service wrote verifies, a page at a
time; levels edited behind its back are each reported with their numbers; and the
retention sweeper prunes settled reservations after their age without breaking it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from stockroom.common.db import create_engine
from stockroom.common.errors import NotFound
from stockroom.inventory.app import InventorySettings
from stockroom.inventory.service.retention import Retention
from stockroom.inventory.store.tables import reservation_allocations, reservations
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb

SKUS = ["A", "B", "C"]
LOCATIONS = ["WH-1", "WH-2"]


async def history(inventory: Inventory) -> list[pb.Reservation]:
    """Six levels with receipts, reservations partly and wholly settled, some still held."""
    await inventory.register(SKUS, LOCATIONS)
    for sku in SKUS:
        for location in LOCATIONS:
            await inventory.receive(sku, location, 10)
    made = [await inventory.reserve({"A": 12, "B": 3}) for _ in range(1)]
    made += [await inventory.reserve({"C": 4}) for _ in range(3)]
    await inventory.stub.ConfirmReservation(
        pb.ConfirmReservationRequest(
            reservation_id=made[0].reservation_id,
            lines=[pb.PartialLine(sku="A", quantity=5)],
            request_id=request_id(),
        )
    )
    await inventory.stub.ConfirmReservation(
        pb.ConfirmReservationRequest(reservation_id=made[1].reservation_id, request_id=request_id())
    )
    await inventory.stub.ReleaseReservation(
        pb.ReleaseReservationRequest(reservation_id=made[2].reservation_id, request_id=request_id())
    )
    return made


async def verify(inventory: Inventory, page_size: int) -> tuple[list[pb.LedgerMismatch], int]:
    """Every page: the mismatches and how many levels were checked."""
    mismatches: list[pb.LedgerMismatch] = []
    checked, token = 0, ""
    for _ in range(100):
        page = await inventory.stub.VerifyLedger(
            pb.VerifyLedgerRequest(page_size=page_size, page_token=token)
        )
        assert len(page.mismatches) <= page.levels_checked <= (page_size or 500)
        mismatches += page.mismatches
        checked += page.levels_checked
        token = page.next_page_token
        if not token:
            return mismatches, checked
    raise AssertionError("more than 100 pages")


async def test_the_ledger_the_service_wrote_verifies_page_by_page(
    inventory: Inventory,
) -> None:
    await history(inventory)

    small = await verify(inventory, page_size=4)
    whole = await verify(inventory, page_size=0)  # the default page

    assert small == ([], 6)
    assert whole == ([], 6)


async def test_every_level_edited_behind_the_ledgers_back_is_reported(
    inventory: Inventory, database_url: str
) -> None:
    made = await history(inventory)
    held_c = next(a.location_id for a in made[3].lines[0].allocations)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE stock_levels SET on_hand = on_hand + 1 WHERE sku = 'B'")
            )
            # A settled unit the ledger never saw: the allocation holds one unit less.
            await connection.execute(
                text(
                    "UPDATE reservation_allocations SET released = released + 1"
                    " WHERE reservation_id = :id"
                ),
                {"id": made[3].reservation_id},
            )
    finally:
        await engine.dispose()

    mismatches, checked = await verify(inventory, page_size=1)

    b_levels = (
        (await inventory.stub.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=["B"])))
        .skus[0]
        .levels
    )
    expected_b = [
        pb.LedgerMismatch(
            sku="B",
            location_id=lv.location_id,
            level_on_hand=lv.on_hand,
            ledger_on_hand=lv.on_hand - 1,
            level_reserved=lv.reserved,
            ledger_reserved=lv.reserved,
            held_by_reservations=lv.reserved,
        )
        for lv in b_levels
    ]
    c_level = await inventory.level("C", held_c)
    expected_c = pb.LedgerMismatch(
        sku="C",
        location_id=held_c,
        level_on_hand=c_level.on_hand,
        ledger_on_hand=c_level.on_hand,
        level_reserved=c_level.reserved,
        ledger_reserved=c_level.reserved,
        held_by_reservations=c_level.reserved - 1,
    )
    assert checked == 6
    assert mismatches == [*expected_b, expected_c]


async def test_settled_reservations_are_pruned_after_their_age_and_active_ones_never(
    inventory: Inventory, database_url: str
) -> None:
    made = await history(inventory)  # made[0] partly confirmed, made[3] untouched: active
    engine = create_engine(database_url)
    retention = Retention(
        engine,
        inventory.clock,
        request_records_age_s=10 * 86_400,
        published_events_age_s=86_400,
        settled_reservations_age_s=3600,
    )
    try:
        assert await retention.prune() == 0
        inventory.clock.advance(3601)
        pruned = await retention.prune()
        async with engine.connect() as connection:
            left = set((await connection.execute(select(reservations.c.reservation_id))).scalars())
            allocations = (
                await connection.execute(select(func.count()).select_from(reservation_allocations))
            ).scalar_one()
    finally:
        await engine.dispose()

    assert pruned == 2
    assert left == {made[0].reservation_id, made[3].reservation_id}
    assert allocations == 4  # A at two locations and B for made[0], C for made[3]
    with pytest.raises(NotFound):
        await inventory.stub.GetReservation(
            pb.GetReservationRequest(reservation_id=made[1].reservation_id)
        )
    ledger = await inventory.stub.ListMovements(pb.ListMovementsRequest(sku="C"))
    assert made[1].reservation_id in {m.reservation_id for m in ledger.movements}
    assert await verify(inventory, page_size=3) == ([], 6)


def test_the_settled_reservation_age_is_a_setting() -> None:
    default = InventorySettings.from_env({})
    set_ = InventorySettings.from_env({"INVENTORY_SETTLED_RESERVATION_RETENTION_S": "60"})

    assert timedelta(seconds=default.settled_reservation_retention_s) == timedelta(days=30)
    assert set_.settled_reservation_retention_s == 60
