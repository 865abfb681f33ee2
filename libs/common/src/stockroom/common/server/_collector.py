"""The garbage collector set up for a server, once it has started.

CPython runs a collection of its youngest generation every 700 net
allocations of container objects, and now and then one that walks every
object the process holds. A server allocates thousands of short-lived
objects per call (messages, rows, futures, plans), and reference counting
frees almost all of them. With the defaults, the collector runs hundreds of
times a second, and the full walks land in the middle of calls. So, when the
server is ready:

- ``gc.freeze()`` moves what startup built (modules, SQLAlchemy metadata,
  protobuf descriptors, compiled statements) to a permanent generation that
  no collection walks again;
- the youngest generation's threshold becomes ``<PREFIX>_GC_THRESHOLD``
  (default 50,000). Collections then run about 70 times less often, and cycles
  are still collected, a little later.

``<PREFIX>_GC_THRESHOLD=0`` keeps CPython's defaults and freezes nothing.
docs/performance.md (sixth pass) has the before and after.
"""

from __future__ import annotations

import gc

DEFAULT_GC_THRESHOLD = 50_000


def tune_collector(threshold: int) -> None:
    """Freeze what exists now and collect the youngest generation every ``threshold``
    allocations (0: leave the collector as it is)."""
    if threshold <= 0:
        return
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(threshold, middle, oldest)
