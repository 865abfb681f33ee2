"""A cancelled asyncpg connection attempt must not log a traceback at ERROR.

asyncpg first asks the server whether to speak TLS (an SSLRequest, sent
under the default ``sslmode=prefer`` too) and waits for the answer on a
future of its own. When the attempt is cancelled after the TCP connection
is made but before ``create_connection`` returns (the caller's deadline,
the client going away, asyncpg's own connect timeout), asyncio closes the
transport, asyncpg sets ``ConnectionError('unexpected connection_lost()
call')`` on that future, and nobody reads it: asyncio then reports "Future
exception was never retrieved" with a traceback, though the attempt's own
error (the cancellation or the timeout) already reached its caller and the
pool. The loop's exception handler logs exactly that report at DEBUG and
passes every other one on unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger("stockroom.common.db")

LEFT_BY_A_CANCELLED_CONNECT = "unexpected connection_lost() call"
_UNREAD = "Future exception was never retrieved"


def is_left_by_a_cancelled_connect(context: dict[str, Any]) -> bool:
    error = context.get("exception")
    return (
        str(context.get("message", "")).startswith(_UNREAD)
        and type(error) is ConnectionError
        and str(error) == LEFT_BY_A_CANCELLED_CONNECT
    )


class _QuietCancelledConnects:
    """The loop's exception handler: the report above at DEBUG, the rest as before."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if is_left_by_a_cancelled_connect(context):
            logger.debug("a cancelled database connection attempt left an unread error; ignored")
            return
        if self.previous is not None:
            self.previous(loop, context)
        else:
            loop.default_exception_handler(context)


def quiet_cancelled_connects(loop: asyncio.AbstractEventLoop) -> None:
    """Install the handler on ``loop`` (once; any handler already there still gets the rest)."""
    current = loop.get_exception_handler()
    if not isinstance(current, _QuietCancelledConnects):
        loop.set_exception_handler(_QuietCancelledConnects(current))
