"""Configuration from the environment (twelve-factor style), one way for every service.

A service's settings are a frozen dataclass whose first field is the common
``ServerConfig`` (``server``) and whose other fields are its own; every field
has a default that runs on a laptop, and production overrides it with a
``<PREFIX>_<FIELD>`` variable (``INVENTORY_PORT=50051``,
``PRICING_QUOTE_TTL_S=600``). ``settings_from_env`` reads them all the same
way: ints and floats parsed and never negative, anything unusable a
``ConfigError`` at startup.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar

from stockroom.common._pooler import POOLER_MODES, behind_pooler
from stockroom.common.server._collector import DEFAULT_GC_THRESHOLD

T = TypeVar("T")


class ConfigError(ValueError):
    """An environment variable has a value that cannot be used."""


@dataclass(frozen=True)
class ServerConfig:
    """What the common server bootstrap needs to know."""

    service_name: str
    host: str = "127.0.0.1"
    port: int = 50051
    database_url: str = ""
    # "transaction" when database_url points at PgBouncer in pool_mode = transaction
    # (or any transaction pooler): the URLs get the statement settings it needs.
    database_pooler: str = ""
    # A streaming replica for reads that may be stale (docs/scaling.md); "" = none.
    database_replica_url: str = ""
    # Past this staleness bound (seconds) the replica's reads go to the primary.
    replica_max_lag_s: float = 5.0
    # Seconds in-flight calls get to finish after SIGTERM before they are cancelled;
    # kept below Kubernetes' default 30 s terminationGracePeriodSeconds.
    drain_grace_s: float = 20.0
    # Seconds between SIGTERM (health turns NOT_SERVING at once) and the listener
    # closing, during which calls are still served: long enough for probes and load
    # balancers to see NOT_SERVING and move traffic away. 0 in development; 5 in deploy/.
    drain_window_s: float = 0.0
    # Server streams (WatchStock) have their own limits, outside max_concurrent_rpcs,
    # so idle watchers can never take the slots unary calls need.
    max_streams: int = 256
    max_streams_per_caller: int = 16
    # A stream ends (UNAVAILABLE, resume hint) after this long, so streams rebalance.
    stream_max_age_s: float = 600.0
    # Calls handled at once before new ones are shed with RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = 256
    # The RetryInfo delay a shed call gets: about one call's time, so some
    # in-flight calls have finished when it comes back.
    shed_retry_after_s: float = 0.1
    # Readiness (the database answers within 0.5 s) is checked this often, so health
    # turns NOT_SERVING within about a second of losing the database.
    health_check_interval_s: float = 0.5
    log_level: str = "INFO"
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    # Comma-separated client-certificate identities (SAN or CN) allowed to call
    # mutating methods; empty means no per-caller authorization. Needs mTLS.
    mutating_callers: str = ""
    # Serve Prometheus metrics on this port (same host); 0 means no endpoint.
    # Traces and metrics otherwise follow the standard OTEL_* variables.
    prometheus_port: int = 0
    # Server processes sharing the port (SO_REUSEPORT) under one supervisor
    # (``server._workers``); 1 serves in this process. About one per core.
    workers: int = 1
    # The asyncio event loop: "auto" (uvloop when installed, as the services install
    # it), "uvloop" (refuse to start without it) or "asyncio" (the standard loop).
    event_loop: str = "auto"
    # Allocations between collections of the garbage collector's youngest generation,
    # set with everything built at startup frozen once the server is ready
    # (``server._collector``); 0 keeps CPython's defaults.
    gc_threshold: int = DEFAULT_GC_THRESHOLD

    @classmethod
    def from_env(
        cls,
        service_name: str,
        prefix: str,
        *,
        defaults: Mapping[str, object] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ServerConfig:
        """Read ``<prefix>_<FIELD>`` for every field, falling back to ``defaults``."""
        return settings_from_env(
            cls, prefix, env, defaults=defaults, given={"service_name": service_name}
        )

    def __post_init__(self) -> None:
        if self.database_pooler not in POOLER_MODES:
            raise ConfigError(
                f"database_pooler={self.database_pooler!r}: expected one of {POOLER_MODES}"
            )
        # One place turns the pooler mode into URL settings, so migrations, the
        # engines and anything else given these URLs all get them.
        for name in ("database_url", "database_replica_url"):
            object.__setattr__(self, name, behind_pooler(getattr(self, name), self.database_pooler))

    @property
    def mutating_caller_set(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.mutating_callers.split(",") if name.strip())

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def settings_from_env(
    cls: type[T],
    prefix: str,
    env: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, object] | None = None,
    given: Mapping[str, object] | None = None,
) -> T:
    """Build the dataclass ``cls`` from ``<prefix>_<FIELD>`` variables.

    Fields in ``given`` are taken as they are (e.g. ``server``); the others
    come from the environment (``os.environ`` unless ``env``), else from
    ``defaults``, else from the field's own default.
    """
    source = os.environ if env is None else env
    values: dict[str, Any] = {**(defaults or {}), **(given or {})}
    kinds = typing.get_type_hints(cls)
    for f in fields(cls):  # type: ignore[arg-type]
        if given and f.name in given:
            continue
        name = f"{prefix}_{f.name.upper()}"
        raw = source.get(name)
        if raw is not None:
            values[f.name] = _parse(name, raw, kinds[f.name])
        elif f.name not in values and f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"{name} is required")
    return cls(**values)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _parse(name: str, raw: str, kind: object) -> object:
    if kind is bool:
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise ConfigError(f"{name}={raw!r} is not true or false")
    if kind not in (int, float):
        return raw
    try:
        value = int(raw) if kind is int else float(raw)
    except ValueError as exc:
        raise ConfigError(
            f"{name}={raw!r} is not a valid {getattr(kind, '__name__', kind)}"
        ) from exc
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    return value
