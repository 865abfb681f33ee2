"""Databases (install ``stockroom-common[db]``): the async engine for SQLite and
PostgreSQL, transactions that survive a lost connection, Alembic migrations,
idempotent requests and page tokens."""

from stockroom.common.db._engine import (
    DIALECTS,
    create_engine,
    is_sqlite,
    lost_connection,
    migrate,
    one_of,
    ping,
    run_autocommit,
    run_transaction,
    upsert_insert,
)
from stockroom.common.db._idempotency import (
    REQUEST_ID_FIELD,
    RequestKey,
    claim,
    complete,
    find_created,
    insert_once,
    request_id_reused,
    request_key,
    request_records_table,
    validate_request_id,
)
from stockroom.common.db._migrations_env import run_migrations
from stockroom.common.db._paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    decode_page_token,
    encode_page_token,
    next_page_token,
    page_size,
)
from stockroom.common.db._replica import ReadReplica, ReplicaReads, attach_replica, replica_reads
from stockroom.common.db._time import Clock, UtcDateTime, utc_now

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DIALECTS",
    "MAX_PAGE_SIZE",
    "REQUEST_ID_FIELD",
    "Clock",
    "ReadReplica",
    "ReplicaReads",
    "RequestKey",
    "UtcDateTime",
    "attach_replica",
    "claim",
    "complete",
    "create_engine",
    "decode_page_token",
    "encode_page_token",
    "find_created",
    "insert_once",
    "is_sqlite",
    "lost_connection",
    "migrate",
    "next_page_token",
    "one_of",
    "page_size",
    "ping",
    "replica_reads",
    "request_id_reused",
    "request_key",
    "request_records_table",
    "run_autocommit",
    "run_migrations",
    "run_transaction",
    "upsert_insert",
    "utc_now",
    "validate_request_id",
]
