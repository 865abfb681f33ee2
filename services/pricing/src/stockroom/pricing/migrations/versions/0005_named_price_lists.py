"""Named price lists: a name, a kind (OVERRIDE, SALE), a status (DRAFT, ACTIVE, ARCHIVED)
with the moments it changed, and prices relative to another list.

Every existing list (until now one implicit list per scope, created by its
first price) becomes an active OVERRIDE list named after its scope
("USD/web/*"), active since its first price was recorded: so every price,
GetPrice at any moment and every caller that never names a list answer as
before. A scope may now have several lists; at most one active OVERRIDE list
(a partial unique index, on SQLite and PostgreSQL).

The downgrade fails when two lists share a scope (the old unique constraint).

Revision ID: 0005_named_price_lists
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from stockroom.common.db import UtcDateTime

revision = "0005_named_price_lists"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
ACTIVE_OVERRIDE = "status = 'ACTIVE' AND kind = 'OVERRIDE'"


def upgrade() -> None:
    with op.batch_alter_table("price_lists") as batch:
        batch.add_column(sa.Column("name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(8), nullable=True))
        batch.add_column(sa.Column("status", sa.String(8), nullable=True))
        batch.add_column(sa.Column("base_list_id", Id, nullable=True))
        batch.add_column(sa.Column("adjustment_bp", sa.Integer, nullable=True))
        batch.add_column(sa.Column("created_at", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("activated_at", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("archived_at", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("request_hash", sa.String(64), nullable=True))
    _name_existing_lists()
    with op.batch_alter_table("price_lists") as batch:
        for column in ("name", "kind", "status", "created_at"):
            batch.alter_column(column, nullable=False)
        batch.drop_constraint("price_lists_scope", type_="unique")
        batch.create_unique_constraint("price_lists_request_id_key", ["request_id"])
        batch.create_foreign_key(
            "price_lists_base_list_id_fkey", "price_lists", ["base_list_id"], ["id"]
        )
        batch.create_check_constraint("price_lists_kind", "kind IN ('OVERRIDE', 'SALE')")
        batch.create_check_constraint(
            "price_lists_status_times",
            "(status = 'DRAFT' AND activated_at IS NULL AND archived_at IS NULL)"
            " OR (status = 'ACTIVE' AND activated_at IS NOT NULL AND archived_at IS NULL)"
            " OR (status = 'ARCHIVED' AND archived_at IS NOT NULL)",
        )
        batch.create_check_constraint(
            "price_lists_relative_whole", "(base_list_id IS NULL) = (adjustment_bp IS NULL)"
        )
        batch.create_check_constraint(
            "price_lists_adjustment_range",
            "adjustment_bp IS NULL OR adjustment_bp BETWEEN -10000 AND 10000",
        )
    op.create_index("price_lists_by_currency", "price_lists", ["currency_code"])
    op.create_index(
        "price_lists_one_active_override",
        "price_lists",
        ["currency_code", "channel", "customer_group", "country"],
        unique=True,
        postgresql_where=sa.text(ACTIVE_OVERRIDE),
        sqlite_where=sa.text(ACTIVE_OVERRIDE),
    )


def _name_existing_lists() -> None:
    """Each list: named after its scope, OVERRIDE, ACTIVE since its first price."""
    lists = sa.table(
        "price_lists",
        sa.column("id", Id),
        sa.column("currency_code", sa.String),
        sa.column("channel", sa.String),
        sa.column("customer_group", sa.String),
        sa.column("country", sa.String),
        sa.column("name", sa.String),
        sa.column("kind", sa.String),
        sa.column("status", sa.String),
        sa.column("created_at", UtcDateTime),
        sa.column("activated_at", UtcDateTime),
    )
    prices = sa.table(
        "prices", sa.column("price_list_id", Id), sa.column("recorded_at", UtcDateTime)
    )
    bind = op.get_bind()
    first_price = dict(
        bind.execute(
            sa.select(prices.c.price_list_id, sa.func.min(prices.c.recorded_at)).group_by(
                prices.c.price_list_id
            )
        ).all()
    )
    now = datetime.now(UTC)
    for row in bind.execute(sa.select(lists)).all():
        since = first_price.get(row.id) or now
        if since.tzinfo is None:  # SQLite gives back the naive UTC text
            since = since.replace(tzinfo=UTC)
        parts = [row.currency_code, row.channel or "*", row.customer_group or "*"]
        name = "/".join(parts + ([row.country] if row.country else []))
        bind.execute(
            sa.update(lists)
            .where(lists.c.id == row.id)
            .values(
                name=name, kind="OVERRIDE", status="ACTIVE", created_at=since, activated_at=since
            )
        )


def downgrade() -> None:
    op.drop_index("price_lists_one_active_override", table_name="price_lists")
    op.drop_index("price_lists_by_currency", table_name="price_lists")
    with op.batch_alter_table("price_lists") as batch:
        for name in (
            "price_lists_adjustment_range",
            "price_lists_relative_whole",
            "price_lists_status_times",
            "price_lists_kind",
        ):
            batch.drop_constraint(name, type_="check")
        batch.drop_constraint("price_lists_base_list_id_fkey", type_="foreignkey")
        batch.drop_constraint("price_lists_request_id_key", type_="unique")
        for column in (
            "request_hash",
            "request_id",
            "archived_at",
            "activated_at",
            "created_at",
            "adjustment_bp",
            "base_list_id",
            "status",
            "kind",
            "name",
        ):
            batch.drop_column(column)
        batch.create_unique_constraint(
            "price_lists_scope", ["currency_code", "channel", "customer_group", "country"]
        )
