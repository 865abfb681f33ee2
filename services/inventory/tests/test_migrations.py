"""The Alembic migrations build exactly the schema the store's queries are written against."""

from __future__ import annotations

from stockroom.common.testing import schema_drift
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.store.tables import metadata


async def test_migrations_match_the_table_definitions(database_url: str) -> None:
    drift = await schema_drift(database_url, MIGRATIONS, metadata, "alembic_version_inventory")

    assert drift == []
