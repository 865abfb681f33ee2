"""A client that only calls services installs neither the ``db`` nor the ``telemetry`` extra.

Each check runs in a fresh interpreter where importing the extras' packages
fails, as it would where they are not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

BLOCK_EXTRAS = """
import importlib.abc, sys
BLOCKED = ("sqlalchemy", "alembic", "asyncpg", "aiosqlite", "opentelemetry.sdk",
           "opentelemetry.exporter", "opentelemetry.instrumentation.sqlalchemy",
           "prometheus_client")
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith(BLOCKED):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Missing())
"""


def run_without_extras(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_EXTRAS + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_blocker_really_hides_the_extras() -> None:
    result = run_without_extras("import stockroom.common.db")
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr


@pytest.mark.parametrize("package", ["client", "errors", "server", "telemetry", "contract"])
def test_the_core_packages_import_without_the_extras(package: str) -> None:
    result = run_without_extras(f"import stockroom.common.{package}")
    assert result.returncode == 0, result.stderr


def test_connect_makes_a_channel_without_the_extras() -> None:
    result = run_without_extras(
        """
        import asyncio
        from stockroom.common.client import connect

        async def main():
            channel = connect("127.0.0.1:1")
            await channel.close()

        asyncio.run(main())
        """
    )
    assert result.returncode == 0, result.stderr


def test_configuring_the_sdk_without_the_extra_says_what_is_missing() -> None:
    result = run_without_extras(
        """
        from stockroom.common.telemetry import configure_telemetry
        configure_telemetry("probe")
        """
    )
    assert result.returncode != 0
    assert "install stockroom-common[telemetry]" in result.stderr
