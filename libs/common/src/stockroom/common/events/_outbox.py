"""The transactional outbox: events written in the same transaction as the change they describe.

A service adds ``outbox_table(metadata)`` to its own schema (and its Alembic
migration) and calls ``append`` inside the transaction that makes the change;
the ``Relay`` publishes committed rows later. So an event exists exactly when
its change committed, whatever happens to the process or the broker between
the commit and the publication.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    event,
    insert,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Keys in the DBAPI connection's info dictionary (it outlives one checkout).
_APPENDED = "stockroom.events.appended"
_COMMITTED = "stockroom.events.committed"

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY (64-bit anyway).
Position = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class Event:
    """One event to publish.

    ``subject`` is the NATS subject (``stockroom.inventory.stock.SKU-1``; build
    tokens with ``subject_token``). ``type`` is the envelope's event type and
    ``about`` its CloudEvents subject. ``dedupe_id`` is the JetStream
    ``Nats-Msg-Id`` and envelope id; empty means the outbox position. Give one
    when the caller has its own dense, durable position (inventory's ledger
    position) so that the id survives a rebuilt outbox.

    Events about one subject must be appended by transactions that exclude
    each other (a row lock on what they change, taken before ``append``):
    then outbox positions, and so publication, follow commit order.
    """

    subject: str
    type: str
    data: Message
    about: str = ""
    dedupe_id: str = ""


def outbox_table(
    metadata: MetaData, name: str = "outbox", *, never_reuse_positions: bool = False
) -> Table:
    """The outbox table, defined in the service's own metadata (and its migrations).

    ``never_reuse_positions``: on SQLite, AUTOINCREMENT, so a position is never
    handed out again after the rows above it were pruned (plain rowids restart
    after the largest row left). PostgreSQL's identity never reuses one anyway.
    A service whose readers remember positions (pricing's caches) needs it.
    """
    table = Table(
        name,
        metadata,
        Column("position", Position, primary_key=True, autoincrement=True),
        Column("subject", String(255), nullable=False),
        Column("event_type", String(255), nullable=False),
        Column("about", String(255), nullable=False),
        Column("dedupe_id", String(128), nullable=True),
        Column("data_type", String(255), nullable=False),
        Column("data", LargeBinary, nullable=False),
        Column("create_time", DateTime(timezone=True), nullable=False),
        # NULL while the event waits for the relay; pruned some time after it is set.
        Column("publish_time", DateTime(timezone=True), nullable=True),
        sqlite_autoincrement=never_reuse_positions,
    )
    # The relay's one query: pending rows in position order (PostgreSQL and
    # SQLite both index only the rows still pending).
    Index(
        f"{name}_pending",
        table.c.position,
        postgresql_where=table.c.publish_time.is_(None),
        sqlite_where=table.c.publish_time.is_(None),
    )
    return table


def outbox_rows(
    events: Sequence[Event], now: datetime, *, settled: bool = False
) -> list[dict[str, Any]]:
    """The outbox rows for ``events``, for callers that build their own INSERT (e.g. in a CTE).

    ``settled`` rows are written as already published (``publish_time`` = ``now``):
    a service that reads its own outbox (pricing's caches) keeps writing it while
    publishing is off, and a relay started later does not publish that backlog;
    ``prune_published`` removes them after the same age as published rows.
    """
    created = now.astimezone(UTC)
    return [
        {
            "subject": e.subject,
            "event_type": e.type,
            "about": e.about,
            "dedupe_id": e.dedupe_id or None,
            "data_type": e.data.DESCRIPTOR.full_name,
            "data": e.data.SerializeToString(deterministic=True),
            "create_time": created,
            "publish_time": created if settled else None,
        }
        for e in events
    ]


async def append(
    connection: AsyncConnection,
    outbox: Table,
    events: Sequence[Event],
    now: datetime,
    *,
    settled: bool = False,
) -> list[int]:
    """Add ``events`` to the outbox in the caller's transaction; their positions.

    One multi-row INSERT: with RETURNING, SQLAlchemy renders the rows into one
    statement ("insertmanyvalues") from a template compiled once, which costs
    less than ``.values([...])`` compiled per call. The relay is woken when
    that transaction commits (``watch_commits``); a rolled back transaction
    leaves no event behind. ``settled``: see ``outbox_rows`` (the relay is not woken).
    """
    if not events:
        return []
    statement = insert(outbox).returning(outbox.c.position)
    inserted = await connection.execute(statement, outbox_rows(events, now, settled=settled))
    if not settled:
        mark_appended(connection)
    return sorted(inserted.scalars())


def mark_appended(connection: AsyncConnection) -> None:
    """Tell the relay that this transaction wrote outbox rows (done by ``append``).

    For callers that insert ``outbox_rows`` with their own statement.
    """
    connection.info[_APPENDED] = True


def watch_commits(engine: AsyncEngine, on_commit: Callable[[], None]) -> Callable[[], None]:
    """Call ``on_commit`` once a transaction that appended events has committed.

    SQLAlchemy's ``commit`` event runs before the COMMIT is sent, when another
    connection could not see the rows yet; so the flag moves to "committed"
    there, and ``on_commit`` runs when the connection begins its next
    transaction or goes back to the pool, both after the COMMIT returned.
    Rows appended on an AUTOCOMMIT connection (``run_autocommit``) count as
    committed too. Returns a function that removes the hooks.
    """
    sync_engine = engine.sync_engine

    def committing(connection: Any) -> None:
        info = _info(connection)
        if info is not None and info.pop(_APPENDED, False):
            info[_COMMITTED] = True

    def rolled_back(connection: Any) -> None:
        info = _info(connection)
        if info is not None and info.pop(_APPENDED, False) and _autocommit(connection):
            # Each statement committed on its own (``run_autocommit``); the
            # ROLLBACK at the end undoes nothing.
            info[_COMMITTED] = True

    def next_begin(connection: Any) -> None:
        info = _info(connection)
        if info is not None and info.pop(_COMMITTED, False):
            on_commit()

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_COMMITTED, False):
            on_commit()

    hooks: list[tuple[str, Callable[..., None]]] = [
        ("commit", committing),
        ("rollback", rolled_back),
        ("begin", next_begin),
        ("checkin", checked_in),
    ]
    for name, hook in hooks:
        event.listen(sync_engine, name, hook)

    def remove() -> None:
        for name, hook in hooks:
            if event.contains(sync_engine, name, hook):
                event.remove(sync_engine, name, hook)

    return remove


def _info(connection: Any) -> dict[str, Any] | None:
    """The connection's info dictionary, or None when the connection is invalidated (a
    cancelled or failed statement): the hooks must never raise inside SQLAlchemy's
    rollback. A wake-up lost this way only waits for the relay's next poll."""
    if connection.invalidated:
        return None
    try:
        info: dict[str, Any] = connection.info
    except SQLAlchemyError:
        return None
    return info


def _autocommit(connection: Any) -> bool:
    return bool(connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT")


_UNSAFE = str.maketrans({".": "_", "*": "_", ">": "_", " ": "_", "\t": "_", "\r": "_", "\n": "_"})


def subject_token(value: str) -> str:
    """``value`` as one NATS subject token: dots, wildcards and whitespace become ``_``.

    Lossy on purpose (subjects route, they do not identify): the envelope
    carries the exact value in ``subject``.
    """
    return value.translate(_UNSAFE) or "_"
