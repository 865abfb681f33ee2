"""The Alembic migrations build exactly the schema the store's queries are written against."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from stockroom.common.database import create_engine, migrate
from stockroom.inventory.app import MIGRATIONS
from stockroom.inventory.store.tables import metadata


async def test_migrations_match_the_table_definitions(database_url: str) -> None:
    await migrate(MIGRATIONS, database_url)
    engine = create_engine(database_url)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"version_table": "alembic_version_inventory"}
        )
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
    finally:
        await engine.dispose()

    assert found == []
