"""Unsellable stock states, reorder points, kits.

- ``stock_levels``: ``damaged``, ``quality_control`` (units apart from on hand,
  never available) and ``reorder_point``, zero for existing levels, never
  negative.
- ``movements``: the deltas of the two states and the level's new columns
  right after the entry (zero for existing entries, which changed neither).
- ``kit_components``: what each kit is made of.
- ``reservation_kit_lines``: a reservation's kit lines; their units are the
  allocations of the same line number, so ``reservation_allocations``' key
  takes the line number (one SKU may be held by several lines: a kit and its
  component, two kits sharing one).

Existing rows keep their meaning: every existing item holds stock, every
existing line is a line of a stocked item. On SQLite the tables whose
constraints change are rebuilt (Alembic's batch mode); on PostgreSQL the new
columns have constant defaults, so no table is rewritten.

Revision ID: 0004_kits_states_reorder
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_kits_states_reorder"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = 64
UUID = 36
ZERO = sa.text("0")


def _zero_column(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, nullable=False, server_default=ZERO)


def upgrade() -> None:
    with op.batch_alter_table("stock_levels") as levels:
        for name in ("damaged", "quality_control", "reorder_point"):
            levels.add_column(_zero_column(name))
        levels.create_check_constraint(
            "states_not_negative", "damaged >= 0 AND quality_control >= 0 AND reorder_point >= 0"
        )
    for name in ("damaged_delta", "quality_control_delta", "damaged", "quality_control"):
        op.add_column("movements", _zero_column(name))
    op.add_column("movements", _zero_column("reorder_point"))

    _allocations_key(["reservation_id", "line_number", "sku", "location_id"])
    op.create_table(
        "reservation_kit_lines",
        sa.Column(
            "reservation_id",
            sa.String(UUID),
            sa.ForeignKey("reservations.reservation_id"),
            primary_key=True,
        ),
        sa.Column("line_number", sa.Integer, primary_key=True),
        sa.Column("kit_sku", sa.String(ID), sa.ForeignKey("items.sku"), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.CheckConstraint("quantity > 0", name="kit_line_positive"),
    )
    op.create_table(
        "kit_components",
        sa.Column("kit_sku", sa.String(ID), sa.ForeignKey("items.sku"), primary_key=True),
        sa.Column("component_sku", sa.String(ID), sa.ForeignKey("items.sku"), primary_key=True),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.CheckConstraint("quantity > 0", name="kit_component_positive"),
        sa.CheckConstraint("component_sku <> kit_sku", name="kit_not_its_own_component"),
    )


def _allocations_key(columns: list[str]) -> None:
    """Replace reservation_allocations' primary key (SQLite: rebuild the table from its
    definition with the new key)."""
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("reservation_allocations_pkey", "reservation_allocations", "primary")
        op.create_primary_key("reservation_allocations_pkey", "reservation_allocations", columns)
        return
    definition = sa.Table(
        "reservation_allocations",
        sa.MetaData(),
        sa.Column("reservation_id", sa.String(UUID), sa.ForeignKey("reservations.reservation_id")),
        sa.Column("sku", sa.String(ID), nullable=False),
        sa.Column("location_id", sa.String(ID), nullable=False),
        sa.Column("line_number", sa.Integer, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*columns),
        sa.ForeignKeyConstraint(
            ["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"]
        ),
        sa.CheckConstraint("quantity > 0", name="allocation_positive"),
    )
    with op.batch_alter_table("reservation_allocations", copy_from=definition, recreate="always"):
        pass


def downgrade() -> None:
    """Back to one line per SKU and no states: refused while data the old schema cannot
    hold exists (kits, kit lines, units in unsellable states)."""
    bind = op.get_bind()
    kept = bind.execute(
        sa.text(
            "SELECT (SELECT count(*) FROM kit_components)"
            " + (SELECT count(*) FROM reservation_kit_lines)"
            " + (SELECT count(*) FROM stock_levels WHERE damaged <> 0 OR quality_control <> 0)"
        )
    ).scalar_one()
    if kept:
        raise RuntimeError(
            "kits, kit reservations or damaged/quality-control stock exist; the old schema"
            " cannot hold them"
        )
    op.drop_table("kit_components")
    op.drop_table("reservation_kit_lines")
    _allocations_key(["reservation_id", "sku", "location_id"])
    for name in (
        "reorder_point",
        "quality_control",
        "damaged",
        "quality_control_delta",
        "damaged_delta",
    ):
        op.drop_column("movements", name)
    with op.batch_alter_table("stock_levels") as levels:
        levels.drop_constraint("states_not_negative", type_="check")
        for name in ("reorder_point", "quality_control", "damaged"):
            levels.drop_column(name)
