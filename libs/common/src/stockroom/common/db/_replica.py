"""A PostgreSQL streaming replica that serves stale-tolerant reads, and how stale it is.

Staleness is measured on the replica itself, as the time since the last
transaction it replayed was committed on the primary, or 0 when it has
replayed all the WAL it received (PostgreSQL's documented lag query). A
measurement is taken at most every ``sample_interval_s`` on the connection
that serves the read; between measurements the bound grows with the time
since: replay only moves forward, so data that was at most ``lag`` old at
``t0`` is at most ``lag + (t - t0)`` old at ``t``. That bound is what the
answer reports, and when it exceeds ``max_lag_s`` the read goes to the
primary instead. So does a read whose replica connection fails or whose
statement the replica cancels (a recovery conflict): a replica adds
capacity, never an outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common._read_scope import ReadCall
from stockroom.common.db._engine import create_engine
from stockroom.common.db._read_routing import route_reads
from stockroom.common.server import ReadRoutingInterceptor, ServerConfig

logger = logging.getLogger(__name__)

T = TypeVar("T")

# NULL replay timestamp (nothing replayed since start) or not in recovery: unknown.
LAG_QUERY = text(
    "SELECT pg_is_in_recovery() AS standby, CASE"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0"
    " ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END AS lag_s"
)
UNKNOWN = float("inf")


class ReadReplica:
    """Reads on ``engine`` (a hot standby) while its staleness bound is at most ``max_lag_s``."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_lag_s: float,
        sample_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._engine = engine
        self.max_lag_s = max_lag_s
        self.sample_interval_s = sample_interval_s
        self._clock = clock
        self._lag_s = UNKNOWN
        self._sampled_at = -UNKNOWN

    def staleness_bound_s(self) -> float:
        """How old the replica's data may be now, from the last measurement."""
        return self._lag_s + max(0.0, self._clock() - self._sampled_at)

    async def try_read(
        self, work: Callable[[AsyncConnection], Awaitable[T]], call: ReadCall
    ) -> tuple[T] | None:
        """``(result,)`` of ``work`` run on the replica, or None: read from the primary."""
        if self._lag_s == UNKNOWN and self._sampled_at > self._clock() - self.sample_interval_s:
            return None  # the last measurement failed recently; do not hammer it
        try:
            async with self.engine.connect() as connection:
                if self._clock() - self._sampled_at >= self.sample_interval_s:
                    await self._measure(connection)
                bound = self.staleness_bound_s()
                if bound > self.max_lag_s:
                    return None
                result = await work(connection)
        except (DBAPIError, OSError, PoolTimeout) as error:
            # A lost connection, a cancelled statement (recovery conflict), an
            # exhausted pool: the primary answers instead, fresh.
            logger.warning(
                "the read replica failed a read; the primary serves it",
                extra={"error": str(getattr(error, "orig", error))},
            )
            self._lag_s, self._sampled_at = UNKNOWN, self._clock()
            return None
        call.served_by_replica(bound)
        return (result,)

    async def _measure(self, connection: AsyncConnection) -> None:
        started = self._clock()
        row = (await connection.execute(LAG_QUERY)).one()
        lag = float(row.lag_s) if row.standby and row.lag_s is not None else UNKNOWN
        # The bound holds from when the query started, before the server measured.
        self._lag_s, self._sampled_at = max(0.0, lag), started

    async def dispose(self) -> None:
        await self._engine.dispose()


def attach_replica(
    primary: AsyncEngine,
    replica_url: str,
    *,
    max_lag_s: float,
    sample_interval_s: float = 0.5,
    **engine_options: Any,
) -> ReadReplica:
    """Route stale-tolerant reads on ``primary`` to the replica at ``replica_url``.

    Dispose of the returned replica when the service stops.
    """
    replica = ReadReplica(
        create_engine(replica_url, **engine_options),
        max_lag_s=max_lag_s,
        sample_interval_s=sample_interval_s,
    )
    route_reads(primary, replica)
    return replica


@dataclass(frozen=True)
class ReplicaReads:
    """What a service adds to its server for replica reads: nothing without a replica."""

    interceptors: tuple[grpc.aio.ServerInterceptor, ...] = ()
    on_stop: tuple[Callable[[], Awaitable[None]], ...] = ()


def replica_reads(
    config: ServerConfig, primary: AsyncEngine, *, fresh_methods: Iterable[str] = ()
) -> ReplicaReads:
    """Serve stale-tolerant reads from ``config.database_replica_url`` when it is set.

    ``fresh_methods``: side-effect-free methods that must still see the
    caller's own writes, so stay on the primary (``ReadRoutingInterceptor``).
    """
    if not config.database_replica_url:
        return ReplicaReads()
    replica = attach_replica(
        primary, config.database_replica_url, max_lag_s=config.replica_max_lag_s
    )
    return ReplicaReads(
        interceptors=(ReadRoutingInterceptor(fresh_methods),), on_stop=(replica.dispose,)
    )
