"""Transaction conflicts: retried by the one transaction runner, then ABORTED for the caller.

A conflict is a transaction that lost a race and committed nothing: a
PostgreSQL deadlock or serialization failure, SQLite reporting itself busy,
or a unit of work raising ``RetryTransaction`` because what it read changed.
The runner (``run_transaction``/``run_autocommit``) runs the whole unit again,
at most ``CONFLICT_ATTEMPTS`` times in all, with full-jitter exponential
backoff; what still conflicts reaches the caller as ``TransactionConflict``
(ABORTED, reason TRANSACTION_CONFLICT, with RetryInfo), safe to retry with the
same request id. Only this runner retries conflicts: a caller that wrapped it
in a retry loop of its own would multiply the attempts.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from stockroom.common.db._outage import RETRYABLE_SQLSTATES, sqlstate
from stockroom.common.errors._errors import DEFAULT_DOMAIN, Aborted

# Attempts in all (the first one included) before a conflict reaches the caller.
CONFLICT_ATTEMPTS = 6
BACKOFF_BASE_S = 0.005
BACKOFF_CAP_S = 0.2

logger = logging.getLogger("stockroom.common.db")

T = TypeVar("T")


class RetryTransaction(Exception):
    """Raised by a unit of work: what it read changed (or another replica got there first),
    so the runner rolls back and runs it again from the start."""


class TransactionConflict(Aborted):
    """The transaction kept conflicting with concurrent ones after every retry."""

    default_reason = "TRANSACTION_CONFLICT"


def retryable_conflict(error: BaseException) -> bool:
    """Whether ``error`` says the transaction lost a race and nothing was committed."""
    if isinstance(error, RetryTransaction):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if sqlstate(error) in RETRYABLE_SQLSTATES:
        return True
    # SQLite's busy timeout ran out waiting for another writer (SQLITE_BUSY).
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)


async def retry_conflicts(
    attempt: Callable[[], Awaitable[T]], *, domain: str = DEFAULT_DOMAIN
) -> T:
    """Run ``attempt`` until it does not conflict, at most ``CONFLICT_ATTEMPTS`` times."""
    for tries in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return await attempt()
        except (DBAPIError, RetryTransaction) as error:
            if not retryable_conflict(error):
                raise
            if tries == CONFLICT_ATTEMPTS:
                logger.warning("transaction conflict persisted", extra={"attempts": tries})
                raise TransactionConflict(
                    "the transaction kept conflicting with concurrent ones; retry the request",
                    domain=domain,
                    retry_after_s=BACKOFF_CAP_S,
                ) from error
            logger.info(
                "transaction conflict; running it again",
                extra={"sqlstate": sqlstate(error), "retry": tries},
            )
            # Full jitter (AWS architecture blog, "Exponential Backoff And Jitter").
            await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**tries)))
    raise AssertionError("unreachable: the last attempt returns or raises")
