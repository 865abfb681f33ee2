"""``stockroom pricing ...`` drives a real pricing server from a shell."""

from __future__ import annotations

import asyncio
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
