"""grpc.aio noise that belongs to an earlier test, not to the one that logs it.

pytest-asyncio gives every test a new event loop and closes it after. grpc.aio
binds every loop it has seen to one completion-queue poller; an event that
grpc's core delivers late for a call made on an earlier test's loop (a
cancelled stream, a channel closed under a call) is handed to that closed
loop, and the loop running now logs "Exception in callback
PollerCompletionQueue._handle_events" with RuntimeError("Event loop is
closed"). Nothing of the running test failed; a test that asserts "nothing was
logged as an error" leaves such records out, and only those.
"""

from __future__ import annotations

import logging

_DISPATCH = "Exception in callback PollerCompletionQueue._handle_events"


def handed_to_a_closed_loop(record: logging.LogRecord) -> bool:
    """Whether ``record`` is grpc.aio's poller failing to reach an earlier test's loop."""
    error = record.exc_info[1] if record.exc_info else None
    return (
        record.getMessage().startswith(_DISPATCH)
        and type(error) is RuntimeError
        and str(error) == "Event loop is closed"
    )
