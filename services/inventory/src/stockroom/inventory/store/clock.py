"""The store's sense of now: ``stockroom.common.db``'s one ``Clock`` and ``utc_now``.

Kept as a name for the store modules that import it from here.
"""

from stockroom.common.db import Clock, utc_now

__all__ = ["Clock", "utc_now"]
