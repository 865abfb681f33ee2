"""Reservation lifecycle and item states.

- ``reservation_allocations`` counts what was settled of each allocation
  (``confirmed``, ``released``, ``expired``; the rest is held), guarded by a
  CHECK. Reservations settled before this migration are settled whole: their
  allocations get the counter of their state, so they hold nothing.
- ``reservations.version`` counts a reservation's changes (a batch writes only
  if it is unchanged), with indexes for ListReservations by reference and for
  pruning settled reservations.
- ``items`` get a state (ACTIVE/INACTIVE), the deactivation's reason and an
  update time.

Revision ID: 0006_reservation_item_lifecycle
Revises: 0005_backorders_and_incoming
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stockroom.common.db import UtcDateTime

revision = "0006_reservation_item_lifecycle"
down_revision = "0005_backorders_and_incoming"
branch_labels = None
depends_on = None

_SETTLED_WHOLE = {"CONFIRMED": "confirmed", "RELEASED": "released", "EXPIRED": "expired"}
_WITHIN = (
    "confirmed >= 0 AND released >= 0 AND expired >= 0"
    " AND confirmed + released + expired <= quantity"
)


def upgrade() -> None:
    with op.batch_alter_table("items") as items:
        items.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="ACTIVE"))
        items.add_column(
            sa.Column("deactivation_reason", sa.String(256), nullable=False, server_default="")
        )
        items.add_column(sa.Column("update_time", UtcDateTime(), nullable=True))
    with op.batch_alter_table("reservations") as reservations:
        reservations.add_column(
            sa.Column("version", sa.BigInteger, nullable=False, server_default="0")
        )
    with op.batch_alter_table("reservation_allocations") as allocations:
        for counter in ("confirmed", "released", "expired"):
            allocations.add_column(
                sa.Column(counter, sa.BigInteger, nullable=False, server_default="0")
            )
    for state, counter in _SETTLED_WHOLE.items():
        op.execute(
            sa.text(
                f"UPDATE reservation_allocations SET {counter} = quantity WHERE reservation_id IN"
                " (SELECT reservation_id FROM reservations WHERE state = :state)"
            ).bindparams(state=state)
        )
    with op.batch_alter_table("reservation_allocations") as allocations:
        allocations.create_check_constraint("allocation_settled_within_quantity", _WITHIN)
    op.create_index(
        "reservations_by_reference",
        "reservations",
        ["reference", "create_time", "reservation_id"],
    )
    op.create_index(
        "settled_reservations_by_update",
        "reservations",
        ["update_time"],
        postgresql_where=sa.text("state <> 'ACTIVE'"),
        sqlite_where=sa.text("state <> 'ACTIVE'"),
    )


def downgrade() -> None:
    op.drop_index("settled_reservations_by_update", table_name="reservations")
    op.drop_index("reservations_by_reference", table_name="reservations")
    with op.batch_alter_table("reservation_allocations") as allocations:
        allocations.drop_constraint("allocation_settled_within_quantity", type_="check")
        for counter in ("expired", "released", "confirmed"):
            allocations.drop_column(counter)
    with op.batch_alter_table("reservations") as reservations:
        reservations.drop_column("version")
    with op.batch_alter_table("items") as items:
        for column in ("update_time", "deactivation_reason", "state"):
            items.drop_column(column)
