"""The newcomer's first command: both services start as processes, talk to each other, and
show the quote's trace without any collector installed."""

from __future__ import annotations

import os
import signal
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


@pytest.mark.slow
def test_a_second_dev_up_says_where_the_running_one_is_and_leaves_it_alone(
    tmp_path: Path, unused_tcp_port_factory: pytest.FixtureDef[int]
) -> None:
    ports = [str(unused_tcp_port_factory()) for _ in range(4)]  # type: ignore[operator]
    command = [sys.executable, "-m", "stockroom.cli", "dev", "up"]
    first = subprocess.Popen(
        [*command, "--inventory-port", ports[0], "--pricing-port", ports[1]],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert first.stdout is not None
        seen = []
        for line in first.stdout:  # ends when the first instance serves (or exits)
            seen.append(line)
            if line.startswith("serving; Ctrl-C"):
                break
        assert seen[-1].startswith("serving; Ctrl-C"), seen
        databases = sorted(p.name for p in (tmp_path / "var" / "dev").glob("*.db"))

        # Other ports, so the only thing that can stop it is the instance check.
        second = subprocess.run(
            [*command, "--inventory-port", ports[2], "--pricing-port", ports[3]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        levels = subprocess.run(
            [sys.executable, "-m", "stockroom.cli", "inventory", "levels", "MUG"],
            env={**os.environ, "INVENTORY_TARGET": f"127.0.0.1:{ports[0]}"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert first.poll() is None  # still serving
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)

    assert second.returncode == 0, second.stderr
    assert f"an instance is already running (pid {first.pid})" in second.stdout
    assert f"inventory  127.0.0.1:{ports[0]}" in second.stdout
    assert f"pricing    127.0.0.1:{ports[1]}" in second.stdout
    assert databases == ["inventory.db", "pricing.db"]
    assert sorted(p.name for p in (tmp_path / "var" / "dev").glob("*.db")) == databases
    assert levels.returncode == 0, levels.stderr
    assert "MUG" in levels.stdout  # the first instance's data survived the second start
