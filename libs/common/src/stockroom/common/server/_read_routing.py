"""Lets the reads of side-effect-free calls come from a read replica, and says so in trailers.

A unary method the proto declares ``idempotency_level = NO_SIDE_EFFECTS`` may
be served from a replica, unless the service lists it in ``fresh_methods``
(reads a caller uses to see its own writes) or the caller sends
``stockroom-read-consistency: primary``. Every answer of such a method
carries trailing metadata: ``stockroom-read-source`` (``primary`` or
``replica``) and, from a replica, ``stockroom-staleness-ms``, an upper bound
on how far behind the primary the data was (``stockroom.common.replica``).
Writes, and what a write reads to decide, never pass through here: their
methods are not side-effect free.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from google.protobuf import descriptor_pb2, descriptor_pool

from stockroom.common._interceptors import AroundCallInterceptor, Context
from stockroom.common._read_scope import stale_reads_allowed

READ_CONSISTENCY_KEY = "stockroom-read-consistency"
READ_SOURCE_KEY = "stockroom-read-source"
STALENESS_KEY = "stockroom-staleness-ms"
FRESH = "primary"


def may_read_stale(method: str) -> bool:
    """A unary, side-effect-free method per the default descriptor pool."""
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(
            method.lstrip("/").replace("/", ".")
        )
    except KeyError:
        return False
    if descriptor.client_streaming or descriptor.server_streaming:
        return False
    level = descriptor.GetOptions().idempotency_level
    return bool(level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS)


class ReadRoutingInterceptor(AroundCallInterceptor):
    """Opens a stale-tolerant read scope around the calls that may read from a replica."""

    def __init__(self, fresh_methods: Iterable[str] = ()) -> None:
        """``fresh_methods``: full names (``/pkg.Service/Method``) that stay on the primary."""
        self.fresh_methods = frozenset(fresh_methods)

    def applies_to(self, method: str) -> bool:
        return method not in self.fresh_methods and may_read_stale(method)

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        metadata = context.invocation_metadata() or ()
        if any(key == READ_CONSISTENCY_KEY and value == FRESH for key, value in metadata):
            yield
            context.set_trailing_metadata(((READ_SOURCE_KEY, FRESH),))
            return
        with stale_reads_allowed() as call:
            yield
        trailers = [(READ_SOURCE_KEY, call.source)]
        if call.staleness_s is not None:
            trailers.append((STALENESS_KEY, str(math.ceil(call.staleness_s * 1000))))
        context.set_trailing_metadata(tuple(trailers))
