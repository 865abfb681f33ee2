"""Does a service's Alembic history build exactly the schema its queries are written against?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from stockroom.common.db._engine import create_engine, migrate


async def schema_drift(
    database_url: str, migrations: Path, metadata: MetaData, version_table: str
) -> list[Any]:
    """Migrate an empty database to head, then list how it differs from ``metadata``
    (Alembic autogenerate's diff: empty when migrations and table definitions agree)."""
    await migrate(migrations, database_url)
    engine = create_engine(database_url)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"version_table": version_table})
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as connection:
            return await connection.run_sync(differences)
    finally:
        await engine.dispose()
