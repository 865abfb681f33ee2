"""``stockroom pricing ...`` drives a real pricing server from a shell."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

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


async def test_prices_promotions_and_quotes_from_the_command_line(
    sqlite_url: str, unused_tcp_port: int
) -> None:

    await migrate(app.MIGRATIONS, sqlite_url)
    config = app.PricingSettings(
        ServerConfig(service_name="pricing", port=0, database_url=sqlite_url),
        f"127.0.0.1:{unused_tcp_port}",  # no inventory: quotes say UNKNOWN
    )
    async with serving(app.build_server(config)) as address:
        target = ["pricing", "--target", address]
        steps = [
            await stockroom(*target, "set-price", "MUG", "USD", "12.50"),
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
            ),
            await stockroom(*target, "quote", "USD", "MUG=2", "TEE=12"),
            await stockroom(*target, "set-price", "MUG", "USD", "12.505"),
        ]

    codes = [code for code, _ in steps]
    outputs = [output for _, output in steps]
    assert codes == [0, 0, 0, 0, 1], outputs
    assert "MUG  USD  12.5 USD" in outputs[0]
    assert "graduated [up to 10: 20 USD, above: 15 USD]" in outputs[1]
    assert "'Tee sale'  10 % off TEE" in outputs[2]
    assert "subtotal 255 USD" in outputs[3]  # 2 x 12.50 + 10 x 20 + 2 x 15
    assert "total 232 USD" in outputs[3]  # less 10 % of the tees' 230
    assert "availability unknown" in outputs[3]
    assert "TOO_PRECISE" in outputs[4]


async def test_lifecycle_codes_redemptions_and_bulk_from_the_command_line(
    sqlite_url: str, unused_tcp_port: int, tmp_path: Path
) -> None:
    await migrate(app.MIGRATIONS, sqlite_url)
    config = app.PricingSettings(
        ServerConfig(service_name="pricing", port=0, database_url=sqlite_url),
        f"127.0.0.1:{unused_tcp_port}",
    )
    csv_file = tmp_path / "prices.csv"
    csv_file.write_text("# sku,currency,amount\nCAP,USD,4.00\nHAT,USD,-1\n")
    async with serving(app.build_server(config)) as address:
        target = ["pricing", "--target", address]
        bulk = await stockroom(*target, "set-prices", "USD", "MUG=10", "TEE=5.00")
        created = await stockroom(
            *target,
            "create-promotion",
            "Mugs",
            "--percent",
            "10",
            "--sku",
            "MUG",
            "--currency",
            "USD",
        )
        promotion_id = created[1].split()[1]
        updated = await stockroom(*target, "update-promotion", promotion_id, "--percent", "20")
        paused = await stockroom(*target, "pause-promotion", promotion_id)
        resumed = await stockroom(*target, "resume-promotion", promotion_id)
        coded = await stockroom(*target, "create-codes", promotion_id, "--code", "hello")
        quoted = await stockroom(
            *target, "quote", "USD", "MUG=2", "--code", "HELLO", "--tax", "MUG:8.1", "--explain"
        )
        quote_id = quoted[1].split()[1]
        redeemed = await stockroom(*target, "redeem", quote_id)
        redemption_id = redeemed[1].split()[1]
        released = await stockroom(*target, "release", redemption_id)
        ended = await stockroom(*target, "end-promotion", promotion_id)
        imported = await stockroom(*target, "import-prices", str(csv_file))
        listed = await stockroom(*target, "list-prices", "USD")

    steps = [bulk, created, updated, paused, resumed, coded, quoted, redeemed, released, ended]
    steps += [imported, listed]
    assert [code for code, _ in steps] == [0] * len(steps), [out for _, out in steps]
    assert "recorded 2, failed 0" in bulk[1]
    assert "20 % off MUG" in updated[1]
    assert "version 2" in updated[1]
    assert "PAUSED  version 3" in paused[1]
    assert "ACTIVE  version 4" in resumed[1]
    assert coded[1].strip() == "HELLO"
    assert "discounts 4 USD" in quoted[1]
    assert "tax 1.3 USD" in quoted[1]  # 8.1 % of 16.00, half even: 1.296 -> 1.30
    assert "code HELLO: APPLIED" in quoted[1]
    assert "Mugs: APPLIED" in quoted[1]
    assert "REDEEMED" in redeemed[1]
    assert "RELEASED" in released[1]
    assert "ENDED  version 5" in ended[1]
    assert "row 1: NEGATIVE" in imported[1]
    assert "2 rows: 1 recorded, 1 failed" in imported[1]
    assert [line.split()[2] for line in listed[1].splitlines()] == ["MUG", "TEE", "CAP"]
