"""Promotion lifecycle and versions, discount codes, usage limits and redemptions, tax.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("prices") as batch:
        batch.add_column(
            sa.Column("tax_inclusive", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("promotions") as batch:
        batch.add_column(sa.Column("status", sa.String(8), nullable=False, server_default="ACTIVE"))
        batch.add_column(sa.Column("version", sa.BigInteger, nullable=False, server_default="1"))
        batch.add_column(sa.Column("updated_at", Time, nullable=True))
        batch.add_column(
            sa.Column("requires_code", sa.Boolean, nullable=False, server_default=sa.false())
        )
        for name in ("max_uses", "max_uses_per_customer", "budget_minor"):
            batch.add_column(sa.Column(name, sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("budget_per_customer_minor", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("uses", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("spent_minor", sa.BigInteger, nullable=False, server_default="0")
        )
        batch.create_check_constraint(
            "promotions_status", "status IN ('ACTIVE', 'PAUSED', 'ENDED')"
        )
        batch.create_check_constraint(
            "promotions_usage_not_negative", "uses >= 0 AND spent_minor >= 0"
        )
        batch.create_check_constraint(
            "promotions_within_max_uses", "max_uses IS NULL OR uses <= max_uses"
        )
        batch.create_check_constraint(
            "promotions_within_budget", "budget_minor IS NULL OR spent_minor <= budget_minor"
        )
    op.create_table(
        "promotion_versions",
        sa.Column("promotion_id", Id, sa.ForeignKey("promotions.id"), primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("recorded_at", Time, nullable=False),
    )
    op.create_table(
        "code_batches",
        sa.Column("id", Id, sa.Identity(), primary_key=True),
        sa.Column("promotion_id", Id, sa.ForeignKey("promotions.id"), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("request_id", sa.String(36), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
    )
    op.create_table(
        "promotion_codes",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("promotion_id", Id, sa.ForeignKey("promotions.id"), nullable=False),
        sa.Column("batch_id", Id, sa.ForeignKey("code_batches.id"), nullable=False),
        sa.Column("max_uses", sa.BigInteger, nullable=True),
        sa.Column("uses", sa.BigInteger, nullable=False, server_default="0"),
        sa.CheckConstraint("uses >= 0", name="promotion_codes_uses_not_negative"),
        sa.CheckConstraint(
            "max_uses IS NULL OR uses <= max_uses", name="promotion_codes_within_max_uses"
        ),
    )
    op.create_index("promotion_codes_by_batch", "promotion_codes", ["batch_id"])
    op.create_table(
        "customer_usage",
        sa.Column("promotion_id", Id, sa.ForeignKey("promotions.id"), primary_key=True),
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("uses", sa.BigInteger, nullable=False),
        sa.Column("spent_minor", sa.BigInteger, nullable=False),
        sa.CheckConstraint("uses >= 0 AND spent_minor >= 0", name="customer_usage_not_negative"),
    )
    op.create_table(
        "redemptions",
        sa.Column("id", Id, sa.Identity(), primary_key=True),
        sa.Column("quote_id", sa.String(36), nullable=False, unique=True),
        sa.Column("request_id", sa.String(36), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("released_at", Time, nullable=True),
        sa.CheckConstraint("state IN ('REDEEMED', 'RELEASED')", name="redemptions_state"),
    )
    op.create_table(
        "redemption_items",
        sa.Column("redemption_id", Id, sa.ForeignKey("redemptions.id"), primary_key=True),
        sa.Column("promotion_id", Id, sa.ForeignKey("promotions.id"), primary_key=True),
        sa.Column("code", sa.String(32), nullable=True),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name="redemption_items_not_negative"),
    )
    with op.batch_alter_table("quotes") as batch:
        batch.add_column(sa.Column("customer_id", sa.String(64), nullable=False, server_default=""))
        for name in ("net_minor", "tax_minor", "gross_minor", "amount_due_minor"):
            batch.add_column(sa.Column(name, sa.BigInteger, nullable=True))
    # Quotes made before tax existed: untaxed, so net = gross = amount due = total.
    op.execute(
        "UPDATE quotes SET net_minor = total_minor, tax_minor = 0, gross_minor = total_minor,"
        " amount_due_minor = total_minor"
    )
    with op.batch_alter_table("quotes") as batch:
        for name in ("net_minor", "tax_minor", "gross_minor", "amount_due_minor"):
            batch.alter_column(name, existing_type=sa.BigInteger, nullable=False)
        batch.create_check_constraint(
            "quotes_gross_is_net_plus_tax", "gross_minor = net_minor + tax_minor"
        )


def downgrade() -> None:
    with op.batch_alter_table("quotes") as batch:
        batch.drop_constraint("quotes_gross_is_net_plus_tax", type_="check")
        for name in ("customer_id", "net_minor", "tax_minor", "gross_minor", "amount_due_minor"):
            batch.drop_column(name)
    op.drop_table("redemption_items")
    op.drop_table("redemptions")
    op.drop_table("customer_usage")
    op.drop_index("promotion_codes_by_batch", table_name="promotion_codes")
    op.drop_table("promotion_codes")
    op.drop_table("code_batches")
    op.drop_table("promotion_versions")
    with op.batch_alter_table("promotions") as batch:
        for name in (
            "promotions_within_budget",
            "promotions_within_max_uses",
            "promotions_usage_not_negative",
            "promotions_status",
        ):
            batch.drop_constraint(name, type_="check")
        for name in (
            "spent_minor",
            "uses",
            "budget_per_customer_minor",
            "budget_minor",
            "max_uses_per_customer",
            "max_uses",
            "requires_code",
            "updated_at",
            "version",
            "status",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("prices") as batch:
        batch.drop_column("tax_inclusive")
