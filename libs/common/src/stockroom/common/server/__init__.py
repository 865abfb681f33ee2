"""Serving: ``GrpcServer`` (health, reflection, TLS, drain, the interceptor stack)
and ``run_service`` (the ``serve``/``migrate`` command line every service ends in).

Configuration comes from ``<SERVICE>_<SETTING>`` environment variables
(``ServerConfig.from_env``). ``AroundCallInterceptor`` is the base of every
server interceptor here; a service writes its own on it.
"""

from stockroom.common._interceptors import AroundCallInterceptor, Context
from stockroom.common.server._config import ConfigError, ServerConfig, settings_from_env
from stockroom.common.server._entrypoint import run_service
from stockroom.common.server._grpc_server import LIVENESS_SERVICE, GrpcServer, ServiceRegistration
from stockroom.common.server._health import NOT_SERVING, SERVING, ReadinessCheck, check_health
from stockroom.common.server._logs import JsonFormatter, configure_logging
from stockroom.common.server._read_routing import (
    READ_CONSISTENCY_KEY,
    READ_SOURCE_KEY,
    STALENESS_KEY,
    ReadRoutingInterceptor,
)

__all__ = [
    "LIVENESS_SERVICE",
    "NOT_SERVING",
    "READ_CONSISTENCY_KEY",
    "READ_SOURCE_KEY",
    "SERVING",
    "STALENESS_KEY",
    "AroundCallInterceptor",
    "ConfigError",
    "Context",
    "GrpcServer",
    "JsonFormatter",
    "ReadRoutingInterceptor",
    "ReadinessCheck",
    "ServerConfig",
    "ServiceRegistration",
    "check_health",
    "configure_logging",
    "run_service",
    "settings_from_env",
]
