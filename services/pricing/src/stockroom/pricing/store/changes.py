"""Catalog changes on the common outbox: appended in commit order, read back by the caches.

A change is an event in ``pricing_outbox`` (``stockroom.common.events``), appended in
the change's own transaction by ``append_in_order``. The stores do not build
events: they hand the changed value to a ``ChangeRecorder`` (``events.py``
makes the event), so the store knows nothing of messages or subjects.

Positions follow commit order: every writer bumps the one row of
``change_head`` (``lock_catalog``) before appending and holds that lock to
commit, so a position is handed out only after every smaller one committed or
rolled back. Price and price list writes take it first thing, so it also
serialises what they decide from (a list's status, a scope's active list). The caches rely on
that ("everything after N" misses nothing) and on positions never coming back
(AUTOINCREMENT on SQLite, an identity on PostgreSQL). On PostgreSQL each change
also NOTIFYs ``pricing_changes`` at commit, which wakes every replica's cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import run_autocommit
from stockroom.common.events import Event, append
from stockroom.pricing.domain.price_lists import PriceList
from stockroom.pricing.domain.prices import PriceVersion
from stockroom.pricing.domain.promotions import Promotion
from stockroom.pricing.tables import change_head, outbox

# PostgreSQL's NOTIFY channel: replicas LISTEN on it to refresh at once.
CHANNEL = "pricing_changes"


class ChangeRecorder(Protocol):
    """Writes the event of a change into the outbox, in the change's transaction."""

    async def price_recorded(
        self, connection: AsyncConnection, version: PriceVersion, now: datetime
    ) -> None: ...

    async def promotion_changed(
        self, connection: AsyncConnection, promotion: Promotion, now: datetime
    ) -> None: ...

    async def price_list_changed(
        self, connection: AsyncConnection, price_list: PriceList, now: datetime
    ) -> None: ...


@dataclass(frozen=True)
class Change:
    """What a cache needs of an outbox row: where it is, its type, what it is about."""

    position: int
    type: str
    about: str


_LOCK = (
    update(change_head)
    .where(change_head.c.id == 1)
    .values(position=change_head.c.position + 1)
    .returning(change_head.c.position)
)
_AFTER = (
    select(outbox.c.position, outbox.c.event_type, outbox.c.about)
    .where(outbox.c.position > bindparam("after"))
    .order_by(outbox.c.position)
    .limit(bindparam("limit"))
)
_HEAD = select(func.coalesce(func.max(outbox.c.position), 0))


async def lock_catalog(connection: AsyncConnection) -> None:
    """Take the catalog lock (held to commit); taking it again in one transaction is free."""
    await connection.execute(_LOCK)


async def append_in_order(
    connection: AsyncConnection, events: Sequence[Event], now: datetime, *, settled: bool
) -> None:
    """Append ``events`` to the outbox in the caller's transaction, after taking the
    order lock; on PostgreSQL, NOTIFY at commit. ``settled``: publishing is off, the
    rows are for the caches only (``stockroom.common.events.outbox_rows``)."""
    await lock_catalog(connection)
    positions = await append(connection, outbox, events, now, settled=settled)
    if positions and connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_notify(:channel, :position)"),
            {"channel": CHANNEL, "position": str(positions[-1])},
        )


class ChangeLog:
    """The outbox read as the log of catalog changes, oldest first."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def after(self, position: int, limit: int) -> list[Change]:
        """Changes after ``position``, oldest first, at most ``limit``."""

        async def work(connection: AsyncConnection) -> list[Change]:
            rows = await connection.execute(_AFTER, {"after": position, "limit": limit})
            return [Change(r.position, r.event_type, r.about) for r in rows]

        return await run_autocommit(self.engine, work)

    async def head(self) -> int:
        """The last position written (0 when the outbox is empty)."""

        async def work(connection: AsyncConnection) -> int:
            return int((await connection.execute(_HEAD)).scalar_one())

        return await run_autocommit(self.engine, work)
