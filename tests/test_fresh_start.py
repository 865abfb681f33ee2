"""A service started by hand on a fresh clone (or by the image's default command, in an
empty /data) creates the folder of its default SQLite database instead of failing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("name", ["inventory", "pricing"])
def test_the_default_database_folder_is_created(name: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(name.upper() + "_")}
    result = subprocess.run(
        [sys.executable, "-m", f"stockroom.{name}", "migrate"],
        cwd=tmp_path,
        env={**env, "OTEL_SDK_DISABLED": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / f"{name}.db").is_file()


@pytest.mark.slow
def test_a_second_service_on_a_taken_port_fails_instead_of_sharing_it(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    """No SO_REUSEPORT: two processes never split one port's connections by accident."""
    env = {
        **os.environ,
        "OTEL_SDK_DISABLED": "true",
        "INVENTORY_PORT": str(unused_tcp_port),
        "INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}",
    }
    command = [sys.executable, "-m", "stockroom.inventory"]
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stderr is not None
        for line in first.stderr:  # bounded by the process's output; ends at "serving"
            if '"msg": "serving"' in line:
                break
        second = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert first.poll() is None
    finally:
        first.terminate()
        first.wait(timeout=60)

    assert second.returncode != 0
