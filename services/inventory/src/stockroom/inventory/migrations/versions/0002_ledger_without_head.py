"""The ledger without its head row: positions from transaction ids (PostgreSQL).

Existing entries keep their sequence numbers (1, 2, ... in commit order).
New entries on PostgreSQL are numbered ``(xid << 20) + n``; the id of this
migration's own transaction is larger than that of every transaction that
wrote an entry before it, and every earlier transaction wrote far fewer than
2**20 entries per id, so every new position is above every old one, and a
client's resume token from before the migration still resumes correctly.
SQLite keeps dense numbering (the last position + 1).

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


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        first_new, last_old = bind.execute(
            sa.text(
                "SELECT pg_current_xact_id()::text::bigint << 20,"
                " (SELECT coalesce(max(sequence), 0) FROM movements)"
            )
        ).one()
        if last_old >= first_new:
            raise RuntimeError(
                f"ledger position {last_old} is not below the first new one ({first_new});"
                " new entries would sort before old ones"
            )
    op.drop_table("ledger_head")


def downgrade() -> None:
    ledger_head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="single_row"),
    )
    last = op.get_bind().execute(sa.text("SELECT coalesce(max(sequence), 0) FROM movements"))
    op.bulk_insert(ledger_head, [{"id": 1, "last_sequence": int(last.scalar_one())}])
