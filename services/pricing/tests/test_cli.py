"""``stockroom pricing ...`` drives a real pricing server from a shell."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from stockroom.common.db import migrate
from stockroom.common.server import ServerConfig
from stockroom.common.testing import serving
from stockroom.pricing import app


async def stockroom(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stockroom.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, output.decode()


@pytest.fixture
async def address(sqlite_url: str, unused_tcp_port: int) -> AsyncIterator[str]:
    """A pricing server whose inventory is nowhere: quotes say UNKNOWN, hold nothing."""
    await migrate(app.MIGRATIONS, sqlite_url)
    config = app.PricingSettings(
        ServerConfig(service_name="pricing", port=0, database_url=sqlite_url),
        f"127.0.0.1:{unused_tcp_port}",
    )
    async with serving(app.build_server(config)) as served:
        yield served


async def json_of(address: str, *args: str) -> Any:
    """``stockroom pricing ARGS -o json`` against ``address``; it must succeed."""
    code, output = await stockroom("pricing", *args, "--target", address, "-o", "json")
    assert code == 0, output
    return json.loads(output)


async def test_prices_promotions_and_quotes_from_the_command_line(address: str) -> None:
    target = ["pricing"]
    json_output = ["--target", address, "-o", "json"]
    steps = [
        await stockroom(*target, "set-price", "MUG", "USD", "12.50", *json_output),
        await stockroom(
            *target,
            "set-price",
            "TEE",
            "USD",
            "--mode",
            "graduated",
            "--tier",
            "10:20",
            "--tier",
            "0:15",
            *json_output,
        ),
        await stockroom(
            *target,
            "create-promotion",
            "Tee sale",
            "--percent",
            "10",
            "--sku",
            "TEE",
            "--currency",
            "USD",
            *json_output,
        ),
        await stockroom(*target, "quote", "USD", "MUG=2", "TEE=12", *json_output),
        await stockroom(*target, "set-price", "MUG", "USD", "12.505", "--target", address),
    ]

    codes = [code for code, _ in steps]
    outputs = [output for _, output in steps]
    assert codes == [0, 0, 0, 0, 2], outputs  # 2: the service said INVALID_ARGUMENT
    price, tiered, promotion, quote = (json.loads(output) for output in outputs[:4])
    assert price["price"]["unit_price"] == {"amount": "12.50", "currency_code": "USD"}
    assert tiered["price"]["tiers_mode"] == "GRADUATED"
    assert [t["unit_amount"]["amount"] for t in tiered["price"]["tiers"]] == ["20.00", "15.00"]
    assert promotion["promotion"]["basis_points_off"] == 1000
    assert promotion["promotion"]["skus"] == ["TEE"]
    assert quote["subtotal"]["amount"] == "255.00"  # 2 x 12.50 + 10 x 20 + 2 x 15
    assert quote["total"]["amount"] == "232.00"  # less 10 % of the tees' 230
    assert quote["availability_reason"] != ""  # no inventory: availability unknown
    assert "TOO_PRECISE" in outputs[4]


async def test_lifecycle_codes_redemptions_and_bulk_from_the_command_line(
    address: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "prices.csv"
    csv_file.write_text("# sku,currency,amount\nCAP,USD,4.00\nHAT,USD,-1\n")
    bulk = await json_of(address, "set-prices", "USD", "MUG=10", "TEE=5.00")
    created = await json_of(
        address, "create-promotion", "Mugs", "--percent", "10", "--sku", "MUG", "--currency", "USD"
    )
    promotion_id = created["promotion"]["promotion_id"]
    updated = await json_of(address, "update-promotion", promotion_id, "--percent", "20")
    paused = await json_of(address, "pause-promotion", promotion_id)
    resumed = await json_of(address, "resume-promotion", promotion_id)
    coded = await json_of(address, "create-codes", promotion_id, "--code", "hello")
    quoted = await json_of(
        address, "quote", "USD", "MUG=2", "--code", "HELLO", "--tax", "MUG:8.1", "--explain"
    )
    redeemed = await json_of(address, "redeem", quoted["quote_id"])
    released = await json_of(address, "release", redeemed["redemption"]["redemption_id"])
    ended = await json_of(address, "end-promotion", promotion_id)
    imported = await json_of(address, "import", str(csv_file))
    listed = await json_of(address, "list-prices", "USD")
    dry = await json_of(address, "quote", "USD", "MUG=1", "--dry-run", "--pending-price", "MUG=7")
    limited = await json_of(
        address,
        *("create-promotion", "Once", "--percent", "5", "--currency", "USD", "--requires-code"),
        *("--max-uses", "3", "--max-uses-per-customer", "1", "--budget", "100"),
    )
    held = await json_of(address, "quote", "USD", "MUG=1", "--reserve")

    assert (bulk["recorded"], bulk["failed"]) == (2, 0)
    promotion = updated["promotion"]
    assert (promotion["basis_points_off"], promotion["version"]) == (2000, 2)
    assert (paused["promotion"]["state"], paused["promotion"]["version"]) == ("PAUSED", 3)
    assert (resumed["promotion"]["state"], resumed["promotion"]["version"]) == ("ACTIVE", 4)
    assert [code["code"] for code in coded["codes"]] == ["HELLO"]
    assert quoted["discount_total"]["amount"] == "4.00"  # 20 % of 2 x 10.00
    assert quoted["tax_total"]["tax"]["amount"] == "1.30"  # 8.1 % of 16.00, half even
    assert [(c["code"], c["status"]) for c in quoted["discount_codes"]] == [("HELLO", "APPLIED")]
    explained = quoted["lines"][0]["explanation"]["promotions"]
    assert [(p["display_name"], p["outcome"]) for p in explained] == [("Mugs", "APPLIED")]
    assert redeemed["redemption"]["state"] == "REDEEMED"
    assert released["redemption"]["state"] == "RELEASED"
    assert (ended["promotion"]["state"], ended["promotion"]["version"]) == ("ENDED", 5)
    assert (imported["received"], imported["recorded"], imported["failed"]) == (2, 1, 1)
    assert [(f["index"], f["error_reason"]) for f in imported["failures"]] == [(1, "NEGATIVE")]
    assert [p["sku"] for p in listed["prices"]] == ["MUG", "TEE", "CAP"]
    assert dry["quote_id"] == ""  # a dry run stores nothing
    assert dry["total"]["amount"] == "7.00"  # with the pending price
    assert limited["promotion"]["requires_code"] is True
    assert limited["promotion"]["limits"]["max_uses"] == 3
    assert limited["promotion"]["limits"]["max_uses_per_customer"] == 1
    assert limited["promotion"]["limits"]["budget"]["amount"] == "100.00"
    assert held["hold"]["reservation_id"] == ""  # no inventory: nothing held...
    assert held["hold"]["reason"] != ""  # ...and the quote says why


async def test_price_lists_and_the_one_import_from_the_command_line(
    address: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "prices.csv"
    csv_file.write_text("sku,currency,amount\nMUG,USD,9.00\nTEE,USD,5\n")
    regular = await json_of(address, "set-price", "MUG", "USD", "10.05")
    draft = (await json_of(address, "create-price-list", "Next year", "USD"))["price_list"]
    list_id = draft["price_list_id"]
    imported = await json_of(address, "import", str(csv_file), "--list", list_id)
    tried = await json_of(address, "quote", "USD", "MUG=1", "--dry-run", "--try-list", list_id)
    activated = await json_of(
        address, "set-price-list-status", list_id, "active", "--replace-active"
    )
    outlet = await json_of(
        address,
        "create-price-list",
        "Outlet",
        "USD",
        "--channel",
        "outlet",
        "--relative-to",
        list_id,
        "--percent",
        "-10",
    )
    outlet_id = outlet["price_list"]["price_list_id"]
    await json_of(address, "set-price-list-status", outlet_id, "active")
    explained = await json_of(
        address, "get-price", "MUG", "USD", "--channel", "outlet", "--explain"
    )
    listed = await json_of(address, "list-prices", "--list", outlet_id)
    active = await json_of(address, "price-lists", "--currency", "USD", "--status", "active")
    shown = await json_of(address, "price-list", regular["price"]["price_list_id"])

    assert draft["status"] == "DRAFT"
    assert (imported["received"], imported["recorded"], imported["failed"]) == (2, 2, 0)
    assert tried["total"]["amount"] == "9.00"  # the draft, tried in a dry run
    assert activated["replaced"]["price_list_id"] == regular["price"]["price_list_id"]
    assert explained["price"]["unit_price"]["amount"] == "8.10"  # 10 % below 9.00
    assert explained["explanation"]["price_list"]["display_name"] == "Outlet"
    assert [p["unit_price"]["amount"] for p in listed["prices"]] == ["8.10", "4.50"]
    assert [p["display_name"] for p in active["price_lists"]] == ["Next year", "Outlet"]
    assert shown["price_list"]["status"] == "ARCHIVED"
