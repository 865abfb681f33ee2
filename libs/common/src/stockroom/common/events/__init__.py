"""Events: a transactional outbox and a relay that publishes it to NATS JetStream.

A service that publishes events:

1. adds ``outbox_table(metadata)`` to its schema and its Alembic migration;
2. calls ``append(connection, outbox, [Event(...)], now)`` inside the
   transaction that makes the change (one multi-row INSERT);
3. when ``EventsConfig.from_env(service, PREFIX).enabled`` (``<PREFIX>_EVENTS_ENABLED``), runs one
   ``Relay(engine, outbox, config)`` per process (``start`` at startup,
   ``stop`` on shutdown);
4. calls ``prune_published`` (and ``prune_request_records``) from its sweeper
   (``prune_forever`` runs one).

Consumers decode the message body with ``decode`` and the payload with
``unpack``; the subjects, types, ids and guarantees are in docs/events.md.

The relay needs the ``events`` extra (nats-py): ``stockroom-common[events]``;
the outbox, envelope and retention pieces import without it.
"""

from stockroom.common.events._config import EventsConfig
from stockroom.common.events._envelope import decode, envelope, message_id, unpack
from stockroom.common.events._outbox import (
    Event,
    append,
    mark_appended,
    outbox_rows,
    outbox_table,
    subject_token,
    watch_commits,
)
from stockroom.common.events._retention import (
    prune_forever,
    prune_published,
    prune_request_records,
)

__all__ = [
    "Event",
    "EventsConfig",
    "append",
    "decode",
    "envelope",
    "mark_appended",
    "message_id",
    "outbox_rows",
    "outbox_table",
    "prune_forever",
    "prune_published",
    "prune_request_records",
    "subject_token",
    "unpack",
    "watch_commits",
]
