"""Server configuration from the environment (twelve-factor style).

Every setting has a default that runs on a laptop; production overrides them
with ``<PREFIX>_<NAME>`` variables, e.g. ``INVENTORY_PORT=50051``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


class ConfigError(ValueError):
    """An environment variable has a value that cannot be used."""


@dataclass(frozen=True)
class ServerConfig:
    """What the common server bootstrap needs to know."""

    service_name: str
    host: str = "127.0.0.1"
    port: int = 50051
    database_url: str = ""
    # Seconds in-flight calls get to finish after SIGTERM before they are cancelled;
    # kept below Kubernetes' default 30 s terminationGracePeriodSeconds.
    drain_grace_s: float = 20.0
    # Calls handled at once before new ones are shed with RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = 256
    # The RetryInfo delay a shed call gets: about one call's time, so some
    # in-flight calls have finished when it comes back.
    shed_retry_after_s: float = 0.1
    health_check_interval_s: float = 2.0
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
        source = os.environ if env is None else env
        values: dict[str, object] = {"service_name": service_name, **(defaults or {})}
        for f in fields(cls):
            if f.name == "service_name":
                continue
            name = f"{prefix}_{f.name.upper()}"
            raw = source.get(name)
            if raw is None:
                continue
            values[f.name] = _parse(name, raw, type(getattr(cls, f.name, "")))
        return cls(**values)  # type: ignore[arg-type]

    @property
    def mutating_caller_set(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.mutating_callers.split(",") if name.strip())

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _parse(name: str, raw: str, kind: type) -> object:
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc
    return raw
