"""The newcomer's first command: both services start as processes and talk to each other."""

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
