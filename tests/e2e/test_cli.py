"""The ``stockroom`` command as a user runs it: a subprocess against both services running
as processes. One output model (table, json, yaml), errors on stderr with a hint and a
documented exit code, no traceback for bad input or a closed pipe, TLS flags, a resumable
watch, a command for every RPC."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockroom.cli.failures import (
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from stockroom.cli.processes import start_service
from stockroom.cli.stock_files import BadRow, Defaults, file_format, read_rows
from stockroom.common.testing import make_pki
from stockroom.inventory.v1 import inventory_pb2
from stockroom.pricing.v1 import pricing_pb2

from .conftest import service

# Every RPC and the command that calls it: a new RPC without a command fails the test below.
COMMANDS = {
    "inventory": {
        "ReceiveStock": "receive",
        "CheckAvailability": "check",
        "BatchCheckAvailability": "check-carts",
        "CreateItem": "create-item",
        "GetItem": "item",
        "ListItems": "items",
        "CreateLocation": "create-location",
        "GetLocation": "location",
        "ListLocations": "locations",
        "BatchGetStockLevels": "levels",
        "SetSafetyStock": "safety-stock",
        "AdjustStock": "adjust",
        "TransferStock": "transfer",
        "ListMovements": "movements",
        "ReserveStock": "reserve",
        "GetReservation": "reservation",
        "ConfirmReservation": "confirm",
        "ReleaseReservation": "release",
        "WatchStock": "watch",
        "ExtendReservation": "extend",
        "ListReservations": "reservations",
        "RenameItem": "rename-item",
        "DeactivateItem": "deactivate-item",
        "ReactivateItem": "reactivate-item",
        "VerifyLedger": "verify-ledger",
        "MoveStock": "move",
        "SetKitComponents": "kit-components",
        "BatchAdjustStock": "adjust-many",
        "ImportStock": "import",
        "SetReorderPoint": "reorder-point",
        "SetInventoryPolicy": "set-policy",
        "ListInventoryPolicies": "policies",
        "CreateExpectedReceipt": "expect",
        "ListExpectedReceipts": "expected",
        "CancelExpectedReceipt": "cancel-expected",
    },
    "pricing": {
        "SetPrice": "set-price",
        "Quote": "quote",
        "GetPrice": "get-price",
        "ListPrices": "history",
        "CreatePromotion": "create-promotion",
        "GetPromotion": "promotion",
        "ListPromotions": "promotions",
        "GetQuote": "get-quote",
        "UpdatePromotion": "update-promotion",
        "PausePromotion": "pause-promotion",
        "ResumePromotion": "resume-promotion",
        "EndPromotion": "end-promotion",
        "CreateDiscountCodes": "create-codes",
        "RedeemQuote": "redeem",
        "ReleaseRedemption": "release",
        "SetPrices": "set-prices",
        "ImportPrices": "import",
        "ListPricesInList": "list-prices",
        "CreatePriceList": "create-price-list",
        "GetPriceList": "price-list",
        "ListPriceLists": "price-lists",
        "UpdatePriceListStatus": "set-price-list-status",
    },
}
DESCRIPTORS = {
    "inventory": inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"],
    "pricing": pricing_pb2.DESCRIPTOR.services_by_name["PricingService"],
}


@dataclass
class Result:
    code: int
    out: str
    err: str


def stockroom(*args: str, env: dict[str, str] | None = None) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "stockroom.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


async def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return await asyncio.to_thread(stockroom, *args, env=env)


@dataclass
class Services:
    inventory: str
    pricing: str
    env: dict[str, str]


@pytest.fixture
async def services(
    tmp_path: Path, unused_tcp_port_factory: pytest.FixtureDef[int]
) -> AsyncIterator[Services]:
    ports = [unused_tcp_port_factory() for _ in range(2)]  # type: ignore[operator]
    inventory_env = {"INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'i.db'}"}
    async with service("inventory", ports[0], inventory_env, tmp_path) as inventory:
        pricing_env = {
            "PRICING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
            "PRICING_INVENTORY_TARGET": inventory.address,
        }
        async with service("pricing", ports[1], pricing_env, tmp_path) as pricing:
            yield Services(
                inventory.address,
                pricing.address,
                {"INVENTORY_TARGET": inventory.address, "PRICING_TARGET": pricing.address},
            )


def test_every_rpc_of_both_services_has_a_command() -> None:
    for group, commands in COMMANDS.items():
        assert set(commands) == {m.name for m in DESCRIPTORS[group].methods}, group
        listed = stockroom(group, "--help").out
        for command in commands.values():
            assert f"  {command} " in listed, command


def test_bare_help_version_and_completion() -> None:
    bare, version, completion = stockroom(), stockroom("--version"), stockroom("completion", "bash")

    assert bare.code == EXIT_OK
    assert "Usage: stockroom" in bare.out
    assert {"dev", "inventory", "pricing", "completion"} <= set(bare.out.split())
    assert version.code == EXIT_OK
    assert version.out.startswith("stockroom ")
    assert "_STOCKROOM_COMPLETE" in completion.out
    # What the installed script asks when the user presses Tab after `stockroom inventory re`.
    completed = stockroom(
        env={
            "_STOCKROOM_COMPLETE": "bash_complete",
            "COMP_WORDS": "stockroom inventory re",
            "COMP_CWORD": "2",
        }
    )
    assert completed.out.split() == [
        "plain,reactivate-item",
        "plain,receive",
        "plain,release",
        "plain,rename-item",
        "plain,reorder-point",
        "plain,reservation",
        "plain,reservations",
        "plain,reserve",
    ]


@pytest.mark.slow
async def test_one_output_model_for_every_group(services: Services) -> None:
    env = services.env
    for args in (
        ("inventory", "create-item", "MUG"),
        ("inventory", "create-location", "WH-1"),
        ("inventory", "receive", "MUG", "WH-1", "40"),
        ("pricing", "set-price", "MUG", "USD", "12.5"),
        ("pricing", "set-price", "MUG", "JPY", "1200"),
    ):
        assert (await run(*args, env=env)).code == EXIT_OK, args

    table = await run("inventory", "levels", "MUG", env=env)
    as_json = await run("inventory", "levels", "MUG", "-o", "json", env=env)
    as_yaml = await run("inventory", "levels", "MUG", "-o", "yaml", env=env)
    usd = await run("pricing", "get-price", "MUG", "USD", env=env)
    jpy = await run("pricing", "get-price", "MUG", "JPY", "-o", "json", env=env)
    quote = await run("pricing", "quote", "USD", "MUG=2", env=env)
    quote_json = await run("pricing", "quote", "USD", "MUG=2", "-o", "json", env=env)

    header, row = table.out.splitlines()
    assert header.split() == [
        "SKU",
        "LOCATION_ID",
        "ON_HAND",
        "RESERVED",
        "SAFETY_STOCK",
        "AVAILABLE",
        "ETAG",
        "DAMAGED",
        "QUALITY_CONTROL",
        "REORDER_POINT",
        "BACKORDERED",
        "INCOMING",
    ]
    assert row.split()[:6] == ["MUG", "WH-1", "40", "0", "0", "40"]  # zeros shown
    assert header.index("ON_HAND") + len("ON_HAND") == row.index("40") + 2  # right-aligned
    document = json.loads(as_json.out)
    level = document["skus"][0]["levels"][0]
    assert level["on_hand"] == 40  # a number, not a string
    assert level["reserved"] == 0  # zeros kept
    assert yaml.safe_load(as_yaml.out) == document
    assert "12.50 USD" in usd.out
    assert json.loads(jpy.out)["price"]["unit_price"] == {"amount": "1200", "currency_code": "JPY"}
    assert "25.00 USD" in quote.out
    assert json.loads(quote_json.out)["lines"][0]["availability"] == "IN_STOCK"


@pytest.mark.slow
async def test_bad_input_and_failures_go_to_stderr_with_a_reason_a_hint_and_an_exit_code(
    services: Services, unused_tcp_port: int
) -> None:
    env = services.env
    not_a_number = await run("inventory", "reserve", "MUG=abc", env=env)
    no_zone = await run("pricing", "get-price", "MUG", "USD", "--at", "2026-12-01T09:00", env=env)
    not_found = await run("inventory", "item", "NOPE", env=env)
    invalid = await run("pricing", "set-price", "MUG", "USD", "12.505", env=env)
    stopped = await run("inventory", "levels", "MUG", "--target", f"127.0.0.1:{unused_tcp_port}")
    stopped_json = await run(
        "pricing",
        "quote",
        "USD",
        "MUG=1",
        "-o",
        "json",
        env={"PRICING_TARGET": f"127.0.0.1:{unused_tcp_port}"},
    )

    assert not_a_number.code == EXIT_USAGE
    assert "'abc' is not a whole number" in not_a_number.err
    assert no_zone.code == EXIT_USAGE
    assert "needs a time zone" in no_zone.err
    assert not_found.code == EXIT_NOT_FOUND
    assert "NOT_FOUND ITEM_NOT_FOUND" in not_found.err
    assert not_found.out == ""
    assert invalid.code == EXIT_USAGE
    assert "TOO_PRECISE" in invalid.err
    for result, name in ((stopped, "inventory"), (stopped_json, "pricing")):
        assert result.code == EXIT_UNREACHABLE
        assert result.out == ""
        assert f"error: {name} at 127.0.0.1:{unused_tcp_port} is not reachable" in result.err
        assert "hint: " in result.err
        assert "make run" in result.err


async def readline(stream: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(stream.readline(), timeout=60)).decode()


@pytest.mark.slow
async def test_watch_streams_one_line_per_event_resumes_after_a_restart_and_stops_on_ctrl_c(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    """No deadline: the stream outlives the default 10 s call timeout only if nothing cuts it;
    the restart proves it reconnects and resumes after the last sequence it printed."""
    env = {"INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'i.db'}"}
    target = {"INVENTORY_TARGET": f"127.0.0.1:{unused_tcp_port}"}
    async with service("inventory", unused_tcp_port, env, tmp_path):
        for args in (("create-item", "MUG"), ("create-location", "WH-1")):
            assert (await run("inventory", *args, env=target)).code == EXIT_OK
        watch = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stockroom.cli", "inventory", "watch", "MUG", "-o", "json",
            "--timeout", "0.5",
            env={**os.environ, **target},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert watch.stdout is not None
        assert watch.stderr is not None
        await run("inventory", "receive", "MUG", "WH-1", "5", env=target)
        first = json.loads(await readline(watch.stdout))
    (tmp_path / "again").mkdir()
    async with service("inventory", unused_tcp_port, env, tmp_path / "again"):
        resumed = await readline(watch.stderr)
        await run("inventory", "receive", "MUG", "WH-1", "7", env=target)
        second = json.loads(await readline(watch.stdout))
        watch.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(watch.wait(), timeout=60)
        rest = (await watch.stderr.read()).decode()

    assert (first["kind"], first["on_hand_delta"]) == ("RECEIPT", 5)
    assert f"resuming after sequence {first['sequence']}" in resumed
    assert (second["kind"], second["on_hand_delta"]) == ("RECEIPT", 7)
    assert second["sequence"] > first["sequence"]
    assert code == EXIT_INTERRUPTED
    assert "Traceback" not in rest


async def first_line(fd: int) -> bytes:
    """Read up to the first newline without blocking the event loop (bounded: about 60 s)."""
    os.set_blocking(fd, False)
    data = b""
    for _ in range(1200):
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            await asyncio.sleep(0.05)
            continue
        data += chunk
        if not chunk or b"\n" in data:
            break
    return data


@pytest.mark.slow
async def test_a_closed_pipe_ends_the_command_quietly(services: Services) -> None:
    """`stockroom inventory watch MUG | head -1`: the next write meets a closed pipe."""
    env = services.env
    for args in (("create-item", "MUG"), ("create-location", "WH-1")):
        assert (await run("inventory", *args, env=env)).code == EXIT_OK
    read_end, write_end = os.pipe()
    watch = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stockroom.cli", "inventory", "watch", "MUG",
        env={**os.environ, **env},
        stdout=write_end,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    os.close(write_end)
    await run("inventory", "receive", "MUG", "WH-1", "1", env=env)
    first = await first_line(read_end)
    os.close(read_end)
    # The reader is gone; the next event is written into the closed pipe.
    await run("inventory", "receive", "MUG", "WH-1", "2", env=env)
    code = await asyncio.wait_for(watch.wait(), timeout=60)
    assert watch.stderr is not None
    err = (await watch.stderr.read()).decode()

    assert b"RECEIPT" in first
    assert code == EXIT_OK, err
    assert err == ""


@pytest.mark.slow
async def test_tls_and_mtls_flags_and_variables(tmp_path: Path, unused_tcp_port: int) -> None:
    pki = make_pki(tmp_path / "pki")
    client = pki.clients["client"]
    env = {
        "INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'i.db'}",
        "INVENTORY_TLS_CERT_FILE": str(pki.server.cert_file),
        "INVENTORY_TLS_KEY_FILE": str(pki.server.key_file),
        "INVENTORY_TLS_CLIENT_CA_FILE": str(pki.ca_file),
    }
    target = {"INVENTORY_TARGET": f"127.0.0.1:{unused_tcp_port}"}
    mtls = [
        "--tls-ca", str(pki.ca_file),
        "--tls-cert", str(client.cert_file),
        "--tls-key", str(client.key_file),
    ]  # fmt: skip
    by_env = {
        **target,
        "STOCKROOM_TLS_CA": str(pki.ca_file),
        "STOCKROOM_TLS_CERT": str(client.cert_file),
        "STOCKROOM_TLS_KEY": str(client.key_file),
    }
    with (tmp_path / "inventory.log").open("wb") as log:
        process = await start_service(
            "inventory",
            target["INVENTORY_TARGET"],
            {**env, "INVENTORY_PORT": str(unused_tcp_port)},
            log=log.fileno(),
        )
    try:
        for _ in range(120):  # until SERVING over mTLS (the health command speaks it too)
            health = await run("inventory", "health", *mtls, "--timeout", "1", env=target)
            if health.code == EXIT_OK:
                break
            await asyncio.sleep(0.5)
        with_flags = await run("inventory", "items", *mtls, env=target)
        with_env = await run("inventory", "items", "-o", "json", env=by_env)
        plaintext = await run("inventory", "items", "--timeout", "2", env=target)
    finally:
        await process.stop()

    assert health.code == EXIT_OK, health.err
    assert "SERVING" in health.out
    assert with_flags.code == EXIT_OK, with_flags.err
    assert json.loads(with_env.out)["items"] == []
    assert plaintext.code == EXIT_UNREACHABLE


@pytest.mark.slow
async def test_bulk_imports_register_what_is_missing_and_apply_every_row(
    services: Services, tmp_path: Path
) -> None:
    env = services.env
    receipts = tmp_path / "receipts.csv"
    rows = [(f"SKU-{i % 7}", f"WH-{i % 3}", i + 1) for i in range(60)]
    receipts.write_text(
        "sku,location_id,quantity\n" + "".join(f"{s},{loc},{q}\n" for s, loc, q in rows)
    )
    prices = tmp_path / "prices.csv"
    prices.write_text("sku,currency,amount\nSKU-0,USD,1.5\nSKU-1,JPY,300\n")
    broken = tmp_path / "broken.csv"
    broken.write_text("sku,location_id,quantity\nMUG,WH-1,lots\n")

    imported = await run(
        "inventory", "import", str(receipts), "--register-missing", "-o", "json", env=env
    )
    priced = await run("pricing", "import", str(prices), "-o", "json", env=env)
    levels = await run("inventory", "levels", "SKU-0", "-o", "json", env=env)
    jpy = await run("pricing", "get-price", "SKU-1", "JPY", env=env)
    refused = await run("inventory", "import", str(broken), env=env)

    summary = json.loads(imported.out)
    assert imported.code == EXIT_OK, imported.err
    assert {k: v for k, v in summary.items() if k != "import_id"} == {
        "rows": 60,
        "applied": 60,
        "failed": 0,
        "failures": [],
        "items_created": 7,
        "locations_created": 3,
    }
    assert json.loads(priced.out) == {"received": 2, "recorded": 2, "failed": 0, "failures": []}
    (sku,) = json.loads(levels.out)["skus"]
    assert sku["on_hand"] == sum(q for s, _, q in rows if s == "SKU-0")
    assert "300 JPY" in jpy.out
    assert refused.code == EXIT_USAGE
    assert "line 2" in refused.err


@pytest.mark.slow
async def test_a_reservations_and_an_items_life_from_the_shell(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    """Partial confirm and release, extend, list by reference, deactivate, check by location,
    verify the ledger: each a command, each answer the one output model."""
    env = {"INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'i.db'}"}
    target = {"INVENTORY_TARGET": f"127.0.0.1:{unused_tcp_port}"}

    async def json_of(*args: str) -> dict[str, object]:
        result = await run("inventory", *args, "-o", "json", env=target)
        assert result.code == EXIT_OK, result.err
        return json.loads(result.out)  # type: ignore[no-any-return]

    async with service("inventory", unused_tcp_port, env, tmp_path):
        for args in (
            ("create-item", "MUG"),
            ("create-item", "MUG-XL"),
            ("create-location", "WH-1"),
            ("create-location", "WH-2"),
            ("receive", "MUG", "WH-1", "6"),
            ("receive", "MUG", "WH-2", "4"),
        ):
            assert (await run("inventory", *args, env=target)).code == EXIT_OK, args
        made: Any = await json_of("reserve", "MUG=8", "--reference", "order-7")
        rid = made["reservation"]["reservation_id"]
        # 8 reserved: 6 at WH-1, 2 at WH-2 (most available first).
        shipped: Any = await json_of("confirm", rid, "MUG@WH-2=2", "--reference", "ship-1")
        released: Any = await json_of("release", rid, "MUG=1")
        extended: Any = await json_of("extend", rid, "--ttl-s", "3600")
        bad_extension = await run("inventory", "extend", rid, env=target)
        listed: Any = await json_of("reservations", "--reference", "order-7", "--state", "active")
        check: Any = await json_of("check", "MUG=3", "--location", "WH-2")
        carts: Any = await json_of("check-carts", "MUG=3", "MUG=3,MUG-XL=1")
        items: Any = await json_of("items", "--prefix", "MUG-")
        await json_of("deactivate-item", "MUG", "--reason", "DISCONTINUED")
        refused = await run("inventory", "reserve", "MUG=1", env=target)
        verified = await run("inventory", "verify-ledger", env=target)

    (line,) = shipped["reservation"]["lines"]
    assert (line["held"], line["confirmed"]) == (6, 2)
    assert {a["location_id"]: a["held"] for a in line["allocations"]} == {"WH-1": 6, "WH-2": 0}
    assert released["reservation"]["lines"][0]["released"] == 1
    assert released["reservation"]["lines"][0]["held"] == 5
    assert extended["reservation"]["expire_time"] > made["reservation"]["expire_time"]
    assert bad_extension.code == EXIT_USAGE
    assert "exactly one of --ttl-s and --until" in bad_extension.err
    assert [r["reservation_id"] for r in listed["reservations"]] == [rid]
    assert (check["lines"][0]["available"], check["lines"][0]["satisfiable"]) == (2, False)
    # Each cart as if alone: both may have the 3 MUGs left.
    assert [[(x["sku"], x["satisfiable"]) for x in r["lines"]] for r in carts["responses"]] == [
        [("MUG", True)],
        [("MUG", True), ("MUG-XL", False)],
    ]
    assert [i["sku"] for i in items["items"]] == ["MUG-XL"]
    assert refused.code == 1
    assert "ITEM_INACTIVE" in refused.err
    assert verified.code == EXIT_OK, verified.err
    assert "LEVELS_CHECKED" in verified.out.upper()


@pytest.mark.slow
async def test_an_import_lists_refused_rows_by_line_and_runs_again_without_applying_twice(
    services: Services, tmp_path: Path
) -> None:
    env = services.env
    for args in (("create-item", "MUG"), ("create-location", "WH-1")):
        assert (await run("inventory", *args, env=env)).code == EXIT_OK
    counts = tmp_path / "counts.jsonl"
    counts.write_text(
        '{"sku": "MUG", "location_id": "WH-1", "on_hand": 40}\n'
        "\n"
        '{"sku": "GHOST", "location_id": "WH-1", "add": 1}\n'
        '{"sku": "MUG", "location_id": "WH-1", "add": -5, "reason": "BROKEN"}\n'
        '{"sku": "MUG", "location_id": "WH-1", "add": 1, "expected_on_hand": 7}\n'
    )
    import_id = "0b9a3c56-1f65-4b2d-9d7e-8c1f3b2a4e50"

    first = await run(
        "inventory", "import", str(counts), "--import-id", import_id, "--batch-size", "2",
        "-o", "json", env=env,
    )  # fmt: skip
    again = await run(
        "inventory", "import", str(counts), "--import-id", import_id, "-o", "json", env=env
    )
    level = await run("inventory", "levels", "MUG", "-o", "json", env=env)

    assert first.code == EXIT_REFUSED
    assert "2 of 4 rows were refused" in first.err
    summary = json.loads(first.out)
    assert (summary["rows"], summary["applied"], summary["failed"]) == (4, 2, 2)
    assert [(f["line"], f["error_reason"]) for f in summary["failures"]] == [
        (3, "ITEM_NOT_FOUND"),
        (5, "ON_HAND_CHANGED"),
    ]
    assert json.loads(again.out)["applied"] == 2  # answered from their records
    assert json.loads(level.out)["skus"][0]["on_hand"] == 35


@pytest.mark.slow
async def test_kits_states_bulk_changes_and_reorder_points_from_the_shell(
    services: Services,
) -> None:
    env = services.env
    for args in (
        ("create-item", "MUG"),
        ("create-item", "SPOON"),
        ("create-location", "WH-1"),
        ("create-item", "SET", "--component", "MUG=1", "--component", "SPOON=2"),
        ("adjust-many", "MUG@WH-1=10", "SPOON@WH-1+=9", "--reason", "COUNT"),
        ("move", "MUG", "WH-1", "2", "--from", "sellable", "--to", "damaged", "--reason", "CHIP"),
        ("move", "MUG", "WH-1", "1", "--from", "damaged", "--to", "written-off", "--reason", "X"),
        ("reorder-point", "MUG", "WH-1", "5"),
        ("kit-components", "SET", "MUG=1", "SPOON=3"),
    ):
        result = await run("inventory", *args, env=env)
        assert result.code == EXIT_OK, (args, result.err)

    levels = json.loads((await run("inventory", "levels", "MUG", "SET", "-o", "json", env=env)).out)
    table = (await run("inventory", "levels", "SET", env=env)).out.splitlines()
    kit = json.loads((await run("inventory", "item", "SET", "-o", "json", env=env)).out)
    check = await run("inventory", "check", "SET=4", "-o", "json", env=env)
    refused = await run(
        "inventory", "adjust-many", "MUG@WH-1-=100", "NOPE@WH-1=1", "-o", "json",
        "--reason", "X", env=env,
    )  # fmt: skip
    bad_move = await run(
        "inventory", "move", "MUG", "WH-1", "1", "--from", "sellable", "--to", "written-off",
        "--reason", "X", env=env,
    )  # fmt: skip

    mug, kit_stock = levels["skus"]
    assert (mug["levels"][0]["on_hand"], mug["levels"][0]["damaged"]) == (8, 1)
    assert mug["levels"][0]["reorder_point"] == 5
    assert (kit_stock["kit"], kit_stock["available"]) == (True, 3)  # min(8 / 1, 9 / 3)
    assert table[1].split()[:2] == ["SET", "(kit)"]
    assert table[1].split()[5] == "3"
    assert [c["quantity"] for c in kit["item"]["components"]] == [1, 3]
    assert json.loads(check.out)["lines"][0]["satisfiable"] is False
    results = json.loads(refused.out)["results"]
    assert [r["error_reason"] for r in results] == ["BELOW_RESERVED", "ITEM_NOT_FOUND"]
    assert bad_move.code == EXIT_USAGE
    assert "only DAMAGED units can be written off" in bad_move.err


def test_stock_files_are_read_one_row_at_a_time_in_either_format(tmp_path: Path) -> None:
    defaults = Defaults("import", "REF-1", "0b9a3c56-1f65-4b2d-9d7e-8c1f3b2a4e50")
    csv_file = tmp_path / "counts.csv"
    csv_file.write_text(
        "sku,location_id,on_hand,add,expected_on_hand,reason\n"
        "MUG,WH-1,40,,38,COUNT\n"
        ",,,,,\n"
        "CUP,WH-1,,-2,,\n"
    )
    jsonl_file = tmp_path / "counts.jsonl"
    jsonl_file.write_text('{"sku": "MUG", "location_id": "WH-1", "quantity": 3}\n')

    rows = read_rows(csv_file, file_format(csv_file, None), defaults)
    first = next(rows)  # a generator: the file is read as rows are taken
    rest = list(rows)
    (jsonl,) = read_rows(jsonl_file, file_format(jsonl_file, None), defaults)
    again = list(read_rows(csv_file, "csv", defaults))

    assert (first.line, first.row.set_on_hand, first.row.expected_on_hand) == (2, 40, 38)
    assert (first.row.reason, first.row.reference) == ("COUNT", "REF-1")
    assert [(r.line, r.row.WhichOneof("change"), r.row.add_on_hand) for r in rest] == [
        (4, "add_on_hand", -2)
    ]
    assert rest[0].row.reason == "import"
    assert (jsonl.row.sku, jsonl.row.add_on_hand) == ("MUG", 3)
    # Request ids come from the import id and the line: the same import is the same rows.
    assert [r.row.request_id for r in again] == [first.row.request_id, rest[0].row.request_id]
    assert first.row.request_id != rest[0].row.request_id
    for text, problem in (
        ("sku,location_id,on_hand\nMUG,WH-1,many\n", "line 2: on_hand 'many'"),
        ("sku,location_id,on_hand,add\nMUG,WH-1,1,1\n", "line 2: give exactly one"),
        ("sku,location_id,add\nMUG,,1\n", "line 2: sku and location_id are required"),
        ("sku,location_id,add\nMUG,WH-1,99999999999999999999\n", "line 2: "),
    ):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(BadRow, match=problem):
            list(read_rows(bad, "csv", defaults))
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"sku": "MUG", "location_id": "WH-1", "add": 1}\n[1]\n')
    with pytest.raises(BadRow, match="line 2: expected a JSON object"):
        list(read_rows(bad_json, "jsonl", defaults))


@pytest.mark.slow
async def test_backorders_and_expected_receipts_from_the_shell(services: Services) -> None:
    env = services.env
    for args in (
        ("create-item", "MUG"),
        ("create-location", "WH-1"),
        ("receive", "MUG", "WH-1", "2"),
        ("set-policy", "MUG", "backorder", "--limit", "5"),
        ("expect", "PO-1", "MUG", "WH-1", "10", "--at", "2031-01-15T09:00Z", "--reference", "PO"),
    ):
        assert (await run("inventory", *args, env=env)).code == EXIT_OK, args

    reserved = json.loads((await run("inventory", "reserve", "MUG=6", "-o", "json", env=env)).out)
    short = json.loads((await run("inventory", "check", "MUG=5", "-o", "json", env=env)).out)
    listed = await run("inventory", "policies", env=env)
    waiting = await run("inventory", "expected", "--sku", "MUG", "-o", "json", env=env)
    receive = ("receive", "MUG", "WH-1", "3", "--expected-receipt", "PO-1", "-o", "json")
    received = json.loads((await run("inventory", *receive, env=env)).out)
    cancelled = json.loads(
        (await run("inventory", "cancel-expected", "PO-1", "-o", "json", env=env)).out
    )
    bad_mode = await run("inventory", "set-policy", "MUG", "sometimes", env=env)
    no_limit = await run("inventory", "set-policy", "MUG", "backorder", env=env)

    line = reserved["reservation"]["lines"][0]
    assert (line["quantity"], line["backordered"]) == (6, 4)
    assert short["lines"][0]["backorderable"] == 1
    assert short["lines"][0]["available_time"].startswith("2031-01-15T09:00")
    assert "BACKORDER" in listed.out
    assert [e["expected_receipt_id"] for e in json.loads(waiting.out)["expected_receipts"]] == [
        "PO-1"
    ]
    assert [f["kind"] for f in received["fills"]] == ["BACKORDER_FILL"]
    assert received["level"]["backordered"] == 1
    assert received["expected_receipt"]["remaining"] == 7
    assert cancelled["expected_receipt"]["state"] == "CANCELLED"
    assert cancelled["level"]["incoming"] == 0
    assert bad_mode.code == EXIT_USAGE
    assert no_limit.code == EXIT_USAGE
    assert "backorder_limit" in no_limit.err
