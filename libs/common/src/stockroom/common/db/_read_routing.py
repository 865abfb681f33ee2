"""Which engine has a read replica: looked up by ``run_autocommit`` inside a stale-read scope."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common._read_scope import ReadCall

T = TypeVar("T")


class Replica(Protocol):
    """Runs reads on a replica when it is fresh enough; returns None when it should not."""

    async def try_read(
        self, work: Callable[[AsyncConnection], Awaitable[T]], call: ReadCall
    ) -> tuple[T] | None: ...

    async def dispose(self) -> None: ...


_REPLICAS: weakref.WeakKeyDictionary[AsyncEngine, Replica] = weakref.WeakKeyDictionary()


def route_reads(primary: AsyncEngine, replica: Replica) -> None:
    """Let stale-tolerant calls' reads on ``primary`` be served by ``replica``."""
    _REPLICAS[primary] = replica


def replica_of(primary: AsyncEngine) -> Replica | None:
    return _REPLICAS.get(primary)
