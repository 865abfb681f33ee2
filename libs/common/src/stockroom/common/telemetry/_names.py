"""Span attribute and metric names the telemetry package records, in one place so
dashboards, docs and tests agree (the resilience names are in ``stockroom.common.client._spans``).

RPC names follow the OpenTelemetry semantic conventions for gRPC; ours carry
the ``stockroom.`` prefix.
"""

from __future__ import annotations

# Span and metric attributes (semantic conventions).
RPC_SYSTEM = "rpc.system"
RPC_SERVICE = "rpc.service"
RPC_METHOD = "rpc.method"
RPC_GRPC_STATUS_CODE = "rpc.grpc.status_code"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

# Span attributes of ours: the ErrorInfo of a failed call.
ERROR_REASON = "stockroom.error.reason"
ERROR_DOMAIN = "stockroom.error.domain"

# Metric attributes of ours.
RETRY = "stockroom.rpc.retry"
TARGET = "stockroom.target"
BREAKER_STATE = "stockroom.breaker.state"
BATCH_NAME = "stockroom.batch.name"
BATCH_OUTCOME = "stockroom.batch.outcome"

# Metrics (semantic conventions).
RPC_SERVER_DURATION = "rpc.server.duration"
RPC_CLIENT_DURATION = "rpc.client.duration"
DB_CLIENT_CONNECTIONS_USAGE = "db.client.connections.usage"

# Metrics of ours.
RPC_CLIENT_ATTEMPTS = "stockroom.rpc.client.attempts"
BREAKER_STATE_GAUGE = "stockroom.breaker.state"
BREAKER_TRANSITIONS = "stockroom.breaker.transitions"
BREAKER_REJECTED_CALLS = "stockroom.breaker.rejected_calls"
RETRY_BUDGET_TOKENS = "stockroom.retry_budget.tokens"
RETRY_BUDGET_DENIED = "stockroom.retry_budget.denied_retries"
SERVER_IN_FLIGHT = "stockroom.server.in_flight"
SERVER_SHED_CALLS = "stockroom.server.shed_calls"
SERVER_SERVING = "stockroom.server.serving"
BATCH_SIZE = "stockroom.batch.size"
BATCH_DURATION = "stockroom.batch.duration"

# Database spans (semantic conventions, as opentelemetry-instrumentation-sqlalchemy wrote them).
DB_SYSTEM = "db.system"
DB_NAME = "db.name"
DB_STATEMENT = "db.statement"
DB_OPERATION = "db.operation"
DB_USER = "db.user"
NET_PEER_NAME = "net.peer.name"
NET_PEER_PORT = "net.peer.port"
# Attributes of db.client.connections.usage.
POOL_NAME = "pool.name"
POOL_STATE = "state"

# The tracer name the database spans are recorded under (the name
# opentelemetry-instrumentation-sqlalchemy used, kept so queries still match).
DATABASE_SCOPE = "opentelemetry.instrumentation.sqlalchemy"
