"""``stockroom pricing ...`` drives a real pricing server from a shell."""

from __future__ import annotations

import asyncio
import json
import sys

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
