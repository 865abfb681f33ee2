"""Callbacks for state that metrics and traces want to watch, without this library knowing them.

Breakers, retry budgets and the load shedder expose their state as plain
attributes and announce changes through ``Listeners``; a metrics module added
later subscribes here instead of being called from inside the resilience code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.client")

T = TypeVar("T")


class Listeners(Generic[T]):
    """An ordered set of callbacks; one that raises is logged and never breaks the caller."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], None]] = []

    def add(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Subscribe ``callback``; call the returned function to unsubscribe."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def emit(self, value: T) -> None:
        for callback in list(self._callbacks):
            try:
                callback(value)
            except Exception:  # a broken metrics hook must not fail an RPC
                logger.exception("listener failed", extra={"listener": repr(callback)})
