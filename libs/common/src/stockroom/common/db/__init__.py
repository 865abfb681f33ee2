"""Databases (install ``stockroom-common[db]``): the async engine for SQLite and
PostgreSQL, transactions that survive a lost connection and retry conflicts, Alembic migrations,
idempotent requests and page tokens."""

from stockroom.common._caller import current_caller
from stockroom.common.db._array_literals import int_array, text_array
from stockroom.common.db._conflicts import (
    CONFLICT_ATTEMPTS,
    RetryTransaction,
    TransactionConflict,
    retryable_conflict,
)
from stockroom.common.db._driver_reads import DriverRead, DriverWrite
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
from stockroom.common.db._group_commit import DEFAULT_BATCHES, BatchSettings, GroupCommit
from stockroom.common.db._idempotency import (
    REQUEST_ID_FIELD,
    RequestKey,
    canonical_request_id,
    claim,
    complete,
    find_created,
    fingerprint,
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
    "CONFLICT_ATTEMPTS",
    "DEFAULT_BATCHES",
    "DEFAULT_PAGE_SIZE",
    "DIALECTS",
    "MAX_PAGE_SIZE",
    "REQUEST_ID_FIELD",
    "BatchSettings",
    "Clock",
    "DriverRead",
    "DriverWrite",
    "GroupCommit",
    "ReadReplica",
    "ReplicaReads",
    "RequestKey",
    "RetryTransaction",
    "TransactionConflict",
    "UtcDateTime",
    "attach_replica",
    "canonical_request_id",
    "claim",
    "complete",
    "create_engine",
    "current_caller",
    "decode_page_token",
    "encode_page_token",
    "find_created",
    "fingerprint",
    "insert_once",
    "int_array",
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
    "retryable_conflict",
    "run_autocommit",
    "run_migrations",
    "run_transaction",
    "text_array",
    "upsert_insert",
    "utc_now",
    "validate_request_id",
]
