"""Unit prices per SKU and currency.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prices",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("currency_code", sa.String(3), primary_key=True),
        sa.Column("unit_amount_minor", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prices")
