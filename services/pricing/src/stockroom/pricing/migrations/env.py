from stockroom.common.db import run_migrations
from stockroom.pricing.tables import metadata

run_migrations(metadata, version_table="alembic_version_pricing")
