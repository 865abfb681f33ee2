"""The body of every service's Alembic ``env.py``: online, async, one version table per service.

A service's env.py is two lines::

    from stockroom.common.db._migrations_env import run_migrations
    run_migrations(metadata, version_table="alembic_version_inventory")

A version table per service lets two services share one PostgreSQL database
(in a small deployment) without their migration histories colliding.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from stockroom.common.db._engine import engine_arguments


def run_migrations(metadata: MetaData, *, version_table: str) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic config has no sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(
            url=url, target_metadata=metadata, version_table=version_table, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, metadata, version_table))


async def _run_online(url: str, metadata: MetaData, version_table: str) -> None:
    # Statement-cache settings in the URL (for a transaction pooler) apply here too.
    parsed, connect_args = engine_arguments(url)
    engine = create_async_engine(parsed, poolclass=NullPool, connect_args=connect_args)

    def _upgrade(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()

    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()
