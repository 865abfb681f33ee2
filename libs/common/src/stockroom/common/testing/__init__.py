"""Helpers for testing Stockroom services and looking at their traces during development.

Throwaway databases (``temporary_database``), a loopback server for a test's
duration (``serving``), faults (``FaultProxy`` between processes,
``TimeoutRecordingProxy`` to read the grpc-timeout a call carries on the wire,
``FaultInjector`` inside a server), TLS material (``make_pki``), a PgBouncer in
transaction pooling mode (``running_pgbouncer``) and a streaming replica
(``streaming_replica``) in front of and behind the test PostgreSQL, two tiny
services to aim them at (echo, ledger), schema drift between models and
migrations (``schema_drift``), and the dev-only trace tools: an in-process
OTLP receiver and a console trace summary (``stockroom dev up``).

A test that proves what a server answers calls it with ``PATIENT_POLICY``: a
deadline only a hung server misses, so a loaded machine cannot fail it.

The pytest fixtures ``postgres_url``, ``sqlite_url`` and ``database_url`` are a
plugin: ``pytest_plugins = ["stockroom.common.testing.pytest_plugin"]``.
Needs the ``db`` and ``telemetry`` extras.
"""

from stockroom.common.testing._certs import KeyPair, Pki, make_pki
from stockroom.common.testing._clocks import ManualClock
from stockroom.common.testing._echo import METHOD as ECHO_METHOD
from stockroom.common.testing._echo import SERVICE_NAME as ECHO_SERVICE
from stockroom.common.testing._echo import add_echo_to_server, echo_callable
from stockroom.common.testing._faultproxy import FaultProxy
from stockroom.common.testing._faults import FaultInjector
from stockroom.common.testing._ledger import APPEND as LEDGER_APPEND
from stockroom.common.testing._ledger import BALANCE as LEDGER_BALANCE
from stockroom.common.testing._ledger import SERVICE_NAME as LEDGER_SERVICE
from stockroom.common.testing._ledger import (
    AppendRequest,
    BalanceRequest,
    Ledger,
    append_callable,
    balance_callable,
)
from stockroom.common.testing._migrations import schema_drift
from stockroom.common.testing._otlp_receiver import (
    OtlpReceiver,
    ReceivedEvent,
    ReceivedPoint,
    ReceivedSpan,
)
from stockroom.common.testing._pgbouncer import PgBouncer, free_port, running_pgbouncer
from stockroom.common.testing._policies import PATIENT_POLICY
from stockroom.common.testing._postgres import (
    admin_url,
    create_database,
    drop_database,
    postgres_reachable,
    temporary_database,
)
from stockroom.common.testing._replica import (
    Replica,
    set_replay_paused,
    streaming_replica,
    wait_until_replayed,
)
from stockroom.common.testing._servers import serving
from stockroom.common.testing._stale_loops import handed_to_a_closed_loop
from stockroom.common.testing._timeoutproxy import SeenCall, TimeoutRecordingProxy
from stockroom.common.testing._trace_summary import complete_trace, render_trace
from stockroom.common.testing._waiting import eventually, process_alive

__all__ = [
    "ECHO_METHOD",
    "ECHO_SERVICE",
    "LEDGER_APPEND",
    "LEDGER_BALANCE",
    "LEDGER_SERVICE",
    "PATIENT_POLICY",
    "AppendRequest",
    "BalanceRequest",
    "FaultInjector",
    "FaultProxy",
    "KeyPair",
    "Ledger",
    "ManualClock",
    "OtlpReceiver",
    "PgBouncer",
    "Pki",
    "ReceivedEvent",
    "ReceivedPoint",
    "ReceivedSpan",
    "Replica",
    "SeenCall",
    "TimeoutRecordingProxy",
    "add_echo_to_server",
    "admin_url",
    "append_callable",
    "balance_callable",
    "complete_trace",
    "create_database",
    "drop_database",
    "echo_callable",
    "eventually",
    "free_port",
    "handed_to_a_closed_loop",
    "make_pki",
    "postgres_reachable",
    "process_alive",
    "render_trace",
    "running_pgbouncer",
    "schema_drift",
    "serving",
    "set_replay_paused",
    "streaming_replica",
    "temporary_database",
    "wait_until_replayed",
]
