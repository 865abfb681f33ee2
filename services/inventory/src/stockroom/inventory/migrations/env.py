from stockroom.common.db import run_migrations
from stockroom.inventory.store.tables import metadata

run_migrations(metadata, version_table="alembic_version_inventory")
