"""Fixtures for the inventory tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stockroom.common.db import migrate
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.testing import Inventory, ManualClock, running_inventory


@pytest.fixture
async def inventory(database_url: str) -> AsyncIterator[Inventory]:
    """A migrated database (SQLite, then PostgreSQL) behind a real server."""
    await migrate(MIGRATIONS, database_url)
    async with running_inventory(database_url, ManualClock()) as running:
        yield running
