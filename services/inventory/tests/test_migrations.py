"""The Alembic migrations build exactly the schema the store's queries are written against,
and carry existing data over."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from stockroom.common.db import create_engine, migrate
from stockroom.common.testing import schema_drift
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.store.tables import metadata
from stockroom.inventory.testing import ManualClock, running_inventory
from stockroom.inventory.v1 import inventory_pb2 as pb


async def test_migrations_match_the_table_definitions(database_url: str) -> None:
    drift = await schema_drift(database_url, MIGRATIONS, metadata, "alembic_version_inventory")

    assert drift == []


async def test_the_ledger_migration_keeps_old_entries_and_numbers_new_ones_after_them(
    database_url: str,
) -> None:
    await migrate(MIGRATIONS, database_url, "0001")
    engine = create_engine(database_url)
    old_time = datetime(2029, 12, 1, tzinfo=UTC)
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO items VALUES ('MUG', '', :t)"), {"t": old_time})
        await connection.execute(
            text("INSERT INTO locations VALUES ('WH-1', '', 'WAREHOUSE', :t)"), {"t": old_time}
        )
        await connection.execute(
            text("INSERT INTO stock_levels VALUES ('MUG', 'WH-1', 7, 0, 0, 2)")
        )
        for sequence, quantity, on_hand in ((1, 3, 3), (2, 4, 7)):
            await connection.execute(
                text(
                    "INSERT INTO movements (sequence, sku, location_id, kind, on_hand_delta,"
                    " reserved_delta, on_hand, reserved, safety_stock, version, reason,"
                    " reference, create_time)"
                    " VALUES (:s, 'MUG', 'WH-1', 'RECEIPT', :q, 0, :h, 0, 0, :s, '', '', :t)"
                ),
                {"s": sequence, "q": quantity, "h": on_hand, "t": old_time},
            )
        await connection.execute(text("UPDATE ledger_head SET last_sequence = 2"))
    await engine.dispose()

    await migrate(MIGRATIONS, database_url)
    async with running_inventory(database_url, ManualClock()) as inventory:
        await inventory.receive("MUG", "WH-1", 5)
        page = await inventory.stub.ListMovements(pb.ListMovementsRequest())
        resumed = await inventory.stub.ListMovements(
            pb.ListMovementsRequest(page_size=1, page_token="")
        )

    assert [m.sequence for m in page.movements][:2] == [1, 2]
    assert page.movements[2].sequence > 2
    assert [m.level.on_hand for m in page.movements] == [3, 7, 12]
    assert [m.level.etag for m in page.movements] == ["1", "2", "3"]
    assert resumed.movements[0].sequence == 1


async def test_the_backorder_migration_gives_existing_levels_and_entries_zeros(
    database_url: str,
) -> None:
    await migrate(MIGRATIONS, database_url, "0004_kits_states_reorder")
    engine = create_engine(database_url)
    old_time = datetime(2029, 12, 1, tzinfo=UTC)
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO items VALUES ('MUG', '', :t)"), {"t": old_time})
        await connection.execute(
            text("INSERT INTO locations VALUES ('WH-1', '', 'WAREHOUSE', :t)"), {"t": old_time}
        )
        await connection.execute(
            text(
                "INSERT INTO stock_levels (sku, location_id, on_hand, reserved, safety_stock,"
                " version) VALUES ('MUG', 'WH-1', 4, 0, 0, 1)"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO movements (sequence, sku, location_id, kind, on_hand_delta,"
                " reserved_delta, on_hand, reserved, safety_stock, version, reason,"
                " reference, create_time)"
                " VALUES (1, 'MUG', 'WH-1', 'RECEIPT', 4, 0, 4, 0, 0, 1, '', '', :t)"
            ),
            {"t": old_time},
        )
    await engine.dispose()

    await migrate(MIGRATIONS, database_url)
    async with running_inventory(database_url, ManualClock()) as inventory:
        await inventory.set_policy("MUG", pb.INVENTORY_POLICY_MODE_BACKORDER, limit=3)
        reservation = await inventory.reserve({"MUG": 6})
        level = await inventory.level("MUG", "WH-1")
        page = await inventory.stub.ListMovements(pb.ListMovementsRequest())

    assert (level.on_hand, level.reserved, level.backordered, level.incoming) == (4, 4, 2, 0)
    assert reservation.lines[0].backordered == 2
    assert (page.movements[0].backordered_delta, page.movements[0].level.incoming) == (0, 0)
    assert [m.kind for m in page.movements[1:]] == [
        pb.MOVEMENT_KIND_RESERVATION,
        pb.MOVEMENT_KIND_BACKORDER,
    ]


async def test_reservations_settled_before_the_lifecycle_migration_hold_nothing_after_it(
    database_url: str,
) -> None:
    await migrate(MIGRATIONS, database_url, "0003")
    engine = create_engine(database_url)
    t = datetime(2029, 12, 20, tzinfo=UTC)  # settled 12 days before the clock: not pruned yet
    ids = {
        state: f"00000000-0000-4000-8000-00000000000{n}"
        for n, state in enumerate(["ACTIVE", "CONFIRMED", "RELEASED", "EXPIRED"], 1)
    }
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO items VALUES ('MUG', 'Mug', :t)"), {"t": t})
        await connection.execute(
            text("INSERT INTO locations VALUES ('WH-1', '', 'WAREHOUSE', :t)"), {"t": t}
        )
        # 10 received, 2 shipped (CONFIRMED), 2 still held (ACTIVE).
        await connection.execute(
            text("INSERT INTO stock_levels VALUES ('MUG', 'WH-1', 8, 2, 0, 9)")
        )
        entries = (
            [("RECEIPT", 10, 0, "")]
            + [("RESERVATION", 0, 2, ids[state]) for state in ids]
            + [
                ("SHIPMENT", -2, -2, ids["CONFIRMED"]),
                ("RELEASE", 0, -2, ids["RELEASED"]),
                ("EXPIRY", 0, -2, ids["EXPIRED"]),
            ]
        )
        for sequence, (kind, on_hand, reserved, reservation_id) in enumerate(entries, 1):
            await connection.execute(
                text(
                    "INSERT INTO movements (sequence, sku, location_id, kind, on_hand_delta,"
                    " reserved_delta, on_hand, reserved, safety_stock, version, reason,"
                    " reference, reservation_id, create_time)"
                    " VALUES (:s, 'MUG', 'WH-1', :k, :h, :r, 0, 0, 0, :s, '', '', :id, :t)"
                ),
                {
                    "s": sequence,
                    "k": kind,
                    "h": on_hand,
                    "r": reserved,
                    "id": reservation_id or None,
                    "t": t,
                },
            )
        for state, reservation_id in ids.items():
            # The active one expires after the clock's now: the expiry sweep, running as
            # soon as the server starts, must leave it held.
            expires = datetime(2031, 1, 1, tzinfo=UTC) if state == "ACTIVE" else t
            await connection.execute(
                text("INSERT INTO reservations VALUES (:id, :state, 'order', :t, :e, :t)"),
                {"id": reservation_id, "state": state, "t": t, "e": expires},
            )
            await connection.execute(
                text("INSERT INTO reservation_allocations VALUES (:id, 'MUG', 'WH-1', 0, 2)"),
                {"id": reservation_id},
            )
    await engine.dispose()

    await migrate(MIGRATIONS, database_url)
    async with running_inventory(database_url, ManualClock()) as inventory:
        found = {
            state: (
                await inventory.stub.GetReservation(pb.GetReservationRequest(reservation_id=rid))
            ).reservation
            for state, rid in ids.items()
        }
        verified = await inventory.stub.VerifyLedger(pb.VerifyLedgerRequest())
        item = (await inventory.stub.GetItem(pb.GetItemRequest(sku="MUG"))).item

    counts = {
        state: [(line.held, line.confirmed, line.released, line.expired) for line in r.lines]
        for state, r in found.items()
    }
    assert counts == {
        "ACTIVE": [(2, 0, 0, 0)],
        "CONFIRMED": [(0, 2, 0, 0)],
        "RELEASED": [(0, 0, 2, 0)],
        "EXPIRED": [(0, 0, 0, 2)],
    }
    assert (verified.levels_checked, list(verified.mismatches)) == (1, [])
    assert (item.display_name, item.state, item.update_time) == (
        "Mug",
        pb.ITEM_STATE_ACTIVE,
        item.create_time,
    )
