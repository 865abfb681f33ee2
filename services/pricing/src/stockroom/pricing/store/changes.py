"""The change log: written in each change's transaction, read by caches and the publisher."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import run_autocommit
from stockroom.pricing.tables import change_head, changes

# PostgreSQL's NOTIFY channel: replicas LISTEN on it to refresh at once.
CHANNEL = "pricing_changes"
PRICE = "PRICE"
PROMOTION = "PROMOTION"


@dataclass(frozen=True)
class Change:
    position: int
    kind: str
    entity_key: str
    recorded_at: datetime
    payload: dict[str, Any]


_BUMP = (
    update(change_head)
    .where(change_head.c.id == 1)
    .values(position=change_head.c.position + 1)
    .returning(change_head.c.position)
)
_AFTER = (
    select(changes)
    .where(changes.c.position > bindparam("after"))
    .order_by(changes.c.position)
    .limit(bindparam("limit"))
)
_HEAD = select(change_head.c.position).where(change_head.c.id == 1)


async def record_change(
    connection: AsyncConnection, kind: str, entity_key: str, payload: dict[str, Any], now: datetime
) -> int:
    """Log a change in the caller's transaction; on PostgreSQL, NOTIFY at its commit."""
    position = int((await connection.execute(_BUMP)).scalar_one())
    await connection.execute(
        changes.insert().values(
            position=position, kind=kind, entity_key=entity_key, recorded_at=now, payload=payload
        )
    )
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_notify(:channel, :position)"),
            {"channel": CHANNEL, "position": str(position)},
        )
    return position


class ChangeLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def after(self, position: int, limit: int) -> list[Change]:
        """Changes after ``position``, oldest first, at most ``limit``."""

        async def work(connection: AsyncConnection) -> list[Change]:
            rows = await connection.execute(_AFTER, {"after": position, "limit": limit})
            return [
                Change(r.position, r.kind, r.entity_key, r.recorded_at, r.payload) for r in rows
            ]

        return await run_autocommit(self.engine, work)

    async def head(self) -> int:
        async def work(connection: AsyncConnection) -> int:
            return int((await connection.execute(_HEAD)).scalar_one())

        return await run_autocommit(self.engine, work)
