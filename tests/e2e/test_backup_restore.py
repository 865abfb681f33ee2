"""Backup and restore as docs/operations.md tells an operator to do it: pg_dump the inventory
database while the service serves, pg_restore it into an empty database, verify the ledger
(levels equal the sums of their movements and what active reservations hold), and serve from
the restored copy. The check is the inventory package's own (the VerifyLedger RPC runs the
same), run straight on the restored database by deploy/verify_ledger.py (also the daily
CronJob)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import asyncpg
import pytest
from google.protobuf.duration_pb2 import Duration
from sqlalchemy.engine import make_url

from stockroom.common.client import connect
from stockroom.common.testing import PATIENT_POLICY, temporary_database
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc

from .conftest import service

ROOT = Path(__file__).parents[2]
VERIFY = ROOT / "deploy" / "verify_ledger.py"


def libpq(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run(command: list[str | Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def verify(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, VERIFY, "--database-url", url, *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def some_history(address: str) -> dict[tuple[str, str], tuple[int, int]]:
    """Receipts, a transfer, and reservations confirmed, released, and still held after a
    partial confirm and a partial release."""

    def rid() -> str:
        return str(uuid.uuid4())

    async with connect(address, PATIENT_POLICY) as channel:
        stub = pb_grpc.InventoryServiceStub(channel)
        for sku in ("MUG", "TEE"):
            await stub.CreateItem(pb.CreateItemRequest(item=pb.Item(sku=sku), request_id=rid()))
        for location in ("WH-1", "WH-2"):
            await stub.CreateLocation(
                pb.CreateLocationRequest(
                    location=pb.Location(location_id=location, kind=pb.LOCATION_KIND_WAREHOUSE),
                    request_id=rid(),
                )
            )
        for sku, location, quantity in (
            ("MUG", "WH-1", 40),
            ("MUG", "WH-2", 5),
            ("TEE", "WH-1", 9),
        ):
            await stub.ReceiveStock(
                pb.ReceiveStockRequest(
                    sku=sku, location_id=location, quantity=quantity, request_id=rid()
                )
            )
        await stub.TransferStock(
            pb.TransferStockRequest(
                sku="MUG",
                from_location_id="WH-1",
                to_location_id="WH-2",
                quantity=7,
                request_id=rid(),
            )
        )
        held = []
        for quantity in (3, 2, 4):
            reserved = await stub.ReserveStock(
                pb.ReserveStockRequest(
                    lines=[pb.ReserveStockLine(sku="MUG", quantity=quantity)],
                    ttl=Duration(seconds=3600),
                    request_id=rid(),
                )
            )
            held.append(reserved.reservation.reservation_id)
        await stub.ConfirmReservation(
            pb.ConfirmReservationRequest(reservation_id=held[0], request_id=rid())
        )
        await stub.ReleaseReservation(
            pb.ReleaseReservationRequest(reservation_id=held[1], request_id=rid())
        )
        part = [pb.PartialLine(sku="MUG", quantity=1)]
        await stub.ConfirmReservation(
            pb.ConfirmReservationRequest(reservation_id=held[2], lines=part, request_id=rid())
        )
        await stub.ReleaseReservation(
            pb.ReleaseReservationRequest(reservation_id=held[2], lines=part, request_id=rid())
        )
        return await levels(stub)


async def levels(stub: pb_grpc.InventoryServiceAsyncStub) -> dict[tuple[str, str], tuple[int, int]]:
    response = await stub.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=["MUG", "TEE"]))
    return {
        (level.sku, level.location_id): (level.on_hand, level.reserved)
        for item in response.skus
        for level in item.levels
    }


@pytest.fixture
def pushgateway() -> Iterator[tuple[str, list[bytes]]]:
    """A stand-in Pushgateway on loopback: its URL, and the bodies it was sent."""
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_dump_taken_while_serving_restores_to_a_verified_ledger_that_serves(
    postgres_url: str, tmp_path: Path, unused_tcp_port_factory: pytest.FixtureDef[int]
) -> None:
    assert shutil.which("pg_dump"), "apt-get install postgresql-client"
    assert shutil.which("pg_restore"), "apt-get install postgresql-client"
    dump = tmp_path / "inventory.dump"
    port = unused_tcp_port_factory()  # type: ignore[operator]
    async with service(
        "inventory", port, {"INVENTORY_DATABASE_URL": postgres_url}, tmp_path
    ) as running:
        before = await some_history(running.address)
        # The backup: a consistent snapshot, taken while the service keeps serving.
        dumped = await asyncio.to_thread(
            run, ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", libpq(postgres_url)]
        )
    assert dumped.returncode == 0, dumped.stderr

    async with temporary_database("stockroom_restore") as restored_url:
        restored = await asyncio.to_thread(
            run,
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                f"--dbname={libpq(restored_url)}",
                dump,
            ],
        )
        assert restored.returncode == 0, restored.stderr

        clean = await asyncio.to_thread(verify, restored_url)

        restore_port = unused_tcp_port_factory()  # type: ignore[operator]
        env = {"INVENTORY_DATABASE_URL": restored_url}
        (tmp_path / "restored").mkdir()
        async with (
            service("inventory", restore_port, env, tmp_path / "restored") as again,
            connect(again.address, PATIENT_POLICY) as channel,
        ):
            after = await levels(pb_grpc.InventoryServiceStub(channel))

        # The check can fail: a level edited behind the ledger's back is reported.
        connection = await asyncpg.connect(libpq(restored_url))
        try:
            await connection.execute(
                "UPDATE stock_levels SET on_hand = on_hand + 1"
                " WHERE sku = 'TEE' AND location_id = 'WH-1'"
            )
        finally:
            await connection.close()
        broken = await asyncio.to_thread(verify, restored_url)

    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "ledger verified: 0 mismatch(es)" in clean.stdout
    assert after == before
    assert before[("MUG", "WH-2")] == (12, 0)
    # 40 - 7 moved - 3 confirmed - 1 confirmed of 4 (and 1 released); 2 still held
    assert before[("MUG", "WH-1")] == (29, 2)
    assert broken.returncode == 1
    assert "TEE at WH-1: on hand 10 (ledger 9)" in broken.stdout


def test_the_verification_pushes_its_result_for_the_alerts(
    sqlite_url: str, pushgateway: tuple[str, list[bytes]]
) -> None:
    """A migrated, empty ledger verifies; the Pushgateway gets both gauges the alerts read."""
    url, received = pushgateway
    migrated = subprocess.run(
        [sys.executable, "-m", "stockroom.inventory", "migrate"],
        env={"INVENTORY_DATABASE_URL": sqlite_url, "OTEL_SDK_DISABLED": "true"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr

    result = verify(sqlite_url, "--pushgateway", url)

    assert result.returncode == 0, result.stdout + result.stderr
    (body,) = received
    assert b"stockroom_ledger_verification_mismatches 0.0" in body
    assert b"stockroom_ledger_verification_last_success_timestamp_seconds " in body
