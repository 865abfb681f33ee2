"""Which reads of the call being served may come from a read replica, and how stale they were.

The primary decides; a replica only answers. A call may read from a replica
only when its method is declared free of side effects (``idempotency_level =
NO_SIDE_EFFECTS``), the service did not list it as one that must see the
caller's own writes, and the caller did not ask for fresh data (metadata
``stockroom-read-consistency: primary``); ``ReadRoutingInterceptor`` decides
that per call and opens a ``ReadCall``. Outside such a call (every write,
every background job, readiness checks) ``stale_reads_allowed()`` is None and
every statement goes to the primary. Transactions never go to a replica,
only ``run_autocommit``'s one-statement reads (``stockroom.common.db``). No
database imports here: the server's interceptor opens the scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

PRIMARY = "primary"
REPLICA = "replica"


@dataclass
class ReadCall:
    """What the reads of one call were served from, filled in as they run."""

    source: str = PRIMARY
    # Upper bound, in seconds, on how far behind the primary the oldest replica
    # read of this call was; None while every read came from the primary.
    staleness_s: float | None = None

    def served_by_replica(self, staleness_s: float) -> None:
        self.source = REPLICA
        self.staleness_s = max(staleness_s, self.staleness_s or 0.0)


_CALL: ContextVar[ReadCall | None] = ContextVar("stockroom_read_call", default=None)


@contextmanager
def stale_reads_allowed() -> Iterator[ReadCall]:
    """Within the block, one-statement reads may be served by the engine's replica."""
    call = ReadCall()
    token = _CALL.set(call)
    try:
        yield call
    finally:
        _CALL.reset(token)


def current_read_call() -> ReadCall | None:
    """The call's ``ReadCall`` when its reads may be stale, else None."""
    return _CALL.get()
