"""Price lists per country or region besides channel and customer group.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("price_lists") as batch:
        batch.add_column(sa.Column("country", sa.String(6), nullable=False, server_default=""))
        batch.drop_constraint("price_lists_scope", type_="unique")
        batch.create_unique_constraint(
            "price_lists_scope", ["currency_code", "channel", "customer_group", "country"]
        )


def downgrade() -> None:
    with op.batch_alter_table("price_lists") as batch:
        batch.drop_constraint("price_lists_scope", type_="unique")
        batch.create_unique_constraint(
            "price_lists_scope", ["currency_code", "channel", "customer_group"]
        )
        batch.drop_column("country")
