"""The newcomer's first command: both services start as processes, talk to each other, and
show the quote's trace without any collector installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_dev_up_runs_the_demo_across_both_services(
    tmp_path: Path, unused_tcp_port_factory: pytest.FixtureDef[int]
) -> None:
    inventory_port, pricing_port = unused_tcp_port_factory(), unused_tcp_port_factory()  # type: ignore[operator]

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stockroom.cli",
            "dev",
            "up",
            "--exit-after-demo",
            "--inventory-port",
            str(inventory_port),
            "--pricing-port",
            str(pricing_port),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = {" ".join(line.split()) for line in result.stdout.splitlines()}
    assert "MUG 4 x 12.50 USD = 50.00 USD IN_STOCK (50 available)" in lines
    assert "TEE 5 x 19.99 USD = 99.95 USD INSUFFICIENT (3 available)" in lines
    assert "subtotal 149.95 USD" in lines
    # The trace tree: pricing's span, its call to inventory, inventory's span under it.
    quote = "pricing stockroom.pricing.v1.PricingService/Quote "
    call = "pricing ├─ stockroom.inventory.v1.InventoryService/CheckAvailability "
    served = "inventory │ └─ stockroom.inventory.v1.InventoryService/CheckAvailability "
    for start, end in ((quote, " OK"), (call, " OK attempt 1, breaker closed"), (served, " OK")):
        assert any(line.startswith(start) and line.endswith(end) for line in lines), start
