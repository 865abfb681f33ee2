"""Database failures as the caller should see them, and an outage logged as one story.

A failure to reach the database (connection refused or reset, connect or
statement timeout, pool exhausted) is UNAVAILABLE with RetryInfo for the caller,
never INTERNAL. In the log an outage is one WARNING when it starts, a reminder
at most every ``REMINDER_S`` while it lasts, and one line when a statement
succeeds again, instead of a traceback per failed request.

Deadlocks and serialization failures are not outages: the transaction runner
retries them (``stockroom.common.db._conflicts``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from stockroom.common.errors._errors import StockroomError, Unavailable
from stockroom.common.errors._translate import register_translator

logger = logging.getLogger(__name__)

REMINDER_S = 30.0
# What a caller is told to wait before retrying an unreachable database.
RETRY_AFTER_S = 1.0
# SQLSTATEs of a transaction that lost a race and may simply run again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


def sqlstate(error: BaseException) -> str:
    orig = getattr(error, "orig", None)
    return str(getattr(orig, "sqlstate", "") or getattr(orig, "pgcode", "") or "")


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached (rather than a bad statement)."""
    if isinstance(error, PoolTimeoutError | DisconnectionError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, OSError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or isinstance(error, OperationalError | InterfaceError):
            return True
        state = sqlstate(error)
        # 08: connection exception; 57P0x: admin shutdown, crash shutdown, cannot connect now;
        # 57014: query_canceled (statement_timeout).
        return state.startswith("08") or state.startswith("57P") or state == "57014"
    return False


class Outage:
    """The state of the database as the requests see it; logs transitions, not requests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started_at: float | None = None
        self.failures = 0
        self._reminded_at = 0.0

    @property
    def ongoing(self) -> bool:
        return self.started_at is not None

    def failed(self, error: BaseException) -> None:
        now = self._clock()
        self.failures += 1
        if self.started_at is None:
            self.started_at = self._reminded_at = now
            logger.warning(
                "database unreachable: calls answer UNAVAILABLE until it is back",
                extra={"error": _one_line(error)},
            )
        elif now - self._reminded_at >= REMINDER_S:
            self._reminded_at = now
            logger.warning(
                "database still unreachable",
                extra={
                    "for_s": round(now - self.started_at, 1),
                    "failures": self.failures,
                    "error": _one_line(error),
                },
            )

    def succeeded(self) -> None:
        if self.started_at is None:
            return
        logger.info(
            "database reachable again",
            extra={
                "outage_s": round(self._clock() - self.started_at, 1),
                "failures": self.failures,
            },
        )
        self.started_at = None
        self.failures = 0


OUTAGE = Outage()


def _one_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error) or type(error).__name__
    return text.splitlines()[0][:300] if text else type(error).__name__


def translate_database_error(error: BaseException) -> StockroomError | None:
    """UNAVAILABLE with RetryInfo for an unreachable database; None for anything else."""
    if not unreachable(error):
        return None
    OUTAGE.failed(error)
    return Unavailable(
        "the database is unreachable; retry after the delay in RetryInfo",
        reason="DATABASE_UNAVAILABLE",
        retry_after_s=RETRY_AFTER_S,
    )


register_translator(translate_database_error)
