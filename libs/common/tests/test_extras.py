"""A client that only calls services installs neither the ``db`` nor the ``telemetry`` extra.

Each check runs in a fresh interpreter where importing the extras' packages
fails, as it would where they are not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

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


def test_a_client_needs_neither_extra() -> None:
    """One interpreter for every check: each one costs a second of imports."""
    result = run_without_extras(
        """
        import asyncio
        import stockroom.common.contract
        import stockroom.common.errors
        import stockroom.common.server
        import stockroom.common.telemetry
        from stockroom.common.client import connect
        from stockroom.common.telemetry import configure_telemetry

        async def main():
            channel = connect("127.0.0.1:1")
            await channel.close()

        asyncio.run(main())
        try:
            configure_telemetry("probe")
        except ImportError as error:
            print(error)
        """
    )
    assert result.returncode == 0, result.stderr
    # ... and configuring the SDK without the extra says which one to install.
    assert "install stockroom-common[telemetry]" in result.stdout
