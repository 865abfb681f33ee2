"""Waiting for a condition in a test without a deadline a loaded machine could miss.

A test that sleeps and then asserts races the machine; one that polls with a
wall-clock deadline fails when the machine is slow. ``eventually`` polls a
bounded number of times instead: generous by default (30 s of polls at 20 ms
on an idle machine, longer on a loaded one), and it fails with what it waited
for.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable

POLL_S = 0.02
ATTEMPTS = 1500


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    attempts: int = ATTEMPTS,
    poll_s: float = POLL_S,
    what: str = "the condition",
) -> None:
    """Return once ``condition()`` (a function or a coroutine function) is true; poll
    every ``poll_s`` at most ``attempts`` times, then raise ``AssertionError``."""
    for _ in range(attempts):
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(poll_s)
    raise AssertionError(f"{what} still false after {attempts} polls")


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (a zombie still counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
