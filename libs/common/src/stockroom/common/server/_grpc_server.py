"""One way to run a Stockroom gRPC server: health, reflection, TLS, graceful drain.

A service's ``app`` module builds a ``GrpcServer`` from its config, its
servicers and its readiness checks, then ``await server.serve()``; everything
that every service needs happens here, once: the standard health service tied
to readiness, server reflection, TLS or mTLS, SIGTERM drain, and what every
call goes through, outermost first:

0. ``outer_interceptors`` (grpc.aio interceptors; none by default);
1. telemetry: the server span and ``rpc.server.duration``, each only when
   someone reads it;
2. error mapping (domain errors to rich statuses, bugs to opaque INTERNAL);
3. load shedding (``max_concurrent_rpcs``, never health checks);
4. deadlines (refuse expired calls, publish the deadline to outbound calls);
5. per-caller authorization of mutating methods (when ``mutating_callers`` is set);
6. ``interceptors`` (the service's own ``AroundCallInterceptor``s).

Steps 1-6 are not grpc interceptors: they are composed into one wrapper per
service method, built when the method is registered (``_stack``), which is
what keeps the stack's cost per call small.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from stockroom.common._interceptors import AroundCallInterceptor
from stockroom.common.server._authorization import CallerInterceptor, MutationAuthorizer
from stockroom.common.server._config import ConfigError, ServerConfig
from stockroom.common.server._health import ReadinessCheck, ReadinessMonitor
from stockroom.common.server._registrar import GenericRegistrar
from stockroom.common.server._shedding import LoadShedder
from stockroom.common.server._stack import ServerStack, stacked_registrar
from stockroom.common.server._streams import StreamGovernor
from stockroom.common.server._workers import WORKER_INDEX_ENV
from stockroom.common.telemetry._providers import GLOBAL_TELEMETRY, Telemetry

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.server")

# Keepalive and message limits chosen for service-to-service traffic behind a
# load balancer: pings every 30 s keep idle connections from being reaped by
# NATs/LBs that drop idle flows after ~60 s; 4 MiB is grpc's default and what
# every request of ours fits in by a wide margin. SO_REUSEPORT is off: a second
# process started on a taken port must fail to bind, not silently share it (a
# supervisor that shares a port between workers on purpose turns it on).
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.so_reuseport", 0),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
)


def server_options(env: Mapping[str, str] | None = None) -> tuple[tuple[str, int], ...]:
    """SERVER_OPTIONS, with SO_REUSEPORT on only in a worker of the supervisor
    (``server._workers``), whose workers share one port on purpose."""
    if WORKER_INDEX_ENV not in (os.environ if env is None else env):
        return SERVER_OPTIONS
    return (("grpc.so_reuseport", 1), *SERVER_OPTIONS[1:])


# The health service name Kubernetes' liveness probe asks (``grpc: {service: liveness}``).
LIVENESS_SERVICE = "liveness"


@dataclass(frozen=True)
class ServiceRegistration:
    """A servicer and the full proto name it serves (for health and reflection).

    ``read_only_methods`` (short names, e.g. ``"CheckAvailability"``) are open
    to every authenticated caller when per-caller authorization is on; so are
    methods the proto marks ``idempotency_level = NO_SIDE_EFFECTS``. Every
    other method counts as mutating.
    """

    name: str
    add_to_server: Callable[[grpc.aio.Server], None]
    read_only_methods: frozenset[str] = frozenset()

    def read_only_paths(self) -> frozenset[str]:
        """Full paths (``/package.Service/Method``) of the methods that change nothing."""
        names = set(self.read_only_methods)
        try:
            service = descriptor_pool.Default().FindServiceByName(self.name)
        except KeyError:
            service = None
        if service is not None:
            names |= {
                m.name
                for m in service.methods
                if m.GetOptions().idempotency_level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
            }
        return frozenset(f"/{self.name}/{name}" for name in names)


class GrpcServer:
    """A grpc.aio server with the Stockroom defaults. Start, serve, drain, stop."""

    def __init__(
        self,
        config: ServerConfig,
        services: Sequence[ServiceRegistration],
        *,
        interceptors: Sequence[AroundCallInterceptor] = (),
        readiness_checks: Sequence[ReadinessCheck] = (),
        on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
        outer_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        telemetry: Telemetry = GLOBAL_TELEMETRY,
    ) -> None:
        self.config = config
        self._services = tuple(services)
        # In-flight and shed counts live here for metrics to read.
        self.shedder = LoadShedder(
            config.max_concurrent_rpcs, retry_after_s=config.shed_retry_after_s
        )
        self.streams = StreamGovernor(
            max_streams=config.max_streams,
            max_per_caller=config.max_streams_per_caller,
            max_age_s=config.stream_max_age_s,
        )
        for interceptor in interceptors:
            if not isinstance(interceptor, AroundCallInterceptor):
                raise TypeError(
                    f"{interceptor!r}: GrpcServer's interceptors run inside its stack and must "
                    "be AroundCallInterceptors (grpc.aio interceptors go in outer_interceptors)"
                )
        self._inner = (*self._authorization(), *interceptors)
        self._telemetry = telemetry
        # No grpc.aio interceptor unless the caller brings one: grpc awaits each on every call.
        self._server = grpc.aio.server(
            interceptors=tuple(outer_interceptors), options=server_options()
        )
        self.health = health.aio.HealthServicer()
        self._readiness = ReadinessMonitor(
            self.health,
            [s.name for s in self._services],
            readiness_checks,
            interval_s=config.health_check_interval_s,
        )
        self._on_stop = tuple(on_stop)
        self._stopped = asyncio.Event()
        self._window_over = asyncio.Event()
        self.port = 0
        telemetry.resilience.track_server(self)

    @property
    def serving(self) -> bool:
        """What the health service says now: ready and not draining."""
        return self._readiness.serving is True and not self._stopped.is_set()

    def _authorization(self) -> list[AroundCallInterceptor]:
        allowed = self.config.mutating_caller_set
        # With client certificates, each call's caller is known (and owns its request ids).
        callers: list[AroundCallInterceptor] = (
            [CallerInterceptor()] if self.config.tls_client_ca_file else []
        )
        if not allowed:
            return callers
        if not (self.config.tls_client_ca_file and self.config.tls_cert_file):
            raise ConfigError(
                "MUTATING_CALLERS needs TLS_CLIENT_CA_FILE: caller identities come from "
                "client certificates"
            )
        read_only = frozenset().union(*(s.read_only_paths() for s in self._services))
        return [*callers, MutationAuthorizer(allowed, read_only)]

    async def start(self) -> int:
        """Bind, start serving and return the bound port (useful with port 0)."""
        # Built now, not in __init__: the stack asks the telemetry what is recorded, and
        # run_service configures telemetry before it starts the server.
        registrar = stacked_registrar(
            self._server, ServerStack(self.shedder, self._telemetry, self._inner, self.streams)
        )
        for service in self._services:
            service.add_to_server(cast("grpc.aio.Server", registrar))
        # Health and reflection unwrapped (never shed, traced or measured), generic too.
        plain = cast("grpc.aio.Server", GenericRegistrar(self._server))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, plain)
        names = [s.name for s in self._services]
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(  # type: ignore[no-untyped-call]
            reflection.aio.ReflectionServicer(
                [
                    *names,
                    health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                    reflection.SERVICE_NAME,
                ]
            ),
            plain,
        )
        credentials = self._credentials()
        if credentials is None:
            self.port = self._server.add_insecure_port(self.config.address)
        else:
            self.port = self._server.add_secure_port(self.config.address, credentials)
        await self._server.start()
        # Liveness ("the process answers") apart from readiness ("send me traffic"): a
        # database outage makes the server NOT_SERVING but must not get it restarted.
        await self.health.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        await self._readiness.check_once()
        self._readiness.start()
        logger.info(
            "serving",
            extra={
                "address": f"{self.config.host}:{self.port}",
                "services": names,
                "tls": credentials is not None,
            },
        )
        return self.port

    def _credentials(self) -> grpc.ServerCredentials | None:
        cfg = self.config
        if not cfg.tls_cert_file:
            return None
        key = Path(cfg.tls_key_file).read_bytes()
        cert = Path(cfg.tls_cert_file).read_bytes()
        client_ca = Path(cfg.tls_client_ca_file).read_bytes() if cfg.tls_client_ca_file else None
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )

    async def stop(self, grace_s: float | None = None, *, window_s: float | None = None) -> None:
        """Drain: report NOT_SERVING at once, keep serving for ``window_s`` (so probes
        and balancers see it and move traffic away), end open streams with UNAVAILABLE
        and a resume hint, refuse new calls, let in-flight ones finish within
        ``grace_s``, cancel the rest, then run the on-stop hooks."""
        if self._stopped.is_set():
            self._window_over.set()  # asked again while draining: skip the rest of the window
            return
        self._stopped.set()
        grace = self.config.drain_grace_s if grace_s is None else grace_s
        window = self.config.drain_window_s if window_s is None else window_s
        await self._readiness.stop()
        await self.health.enter_graceful_shutdown()
        logger.info("draining", extra={"grace_s": grace, "window_s": window})
        if window > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._window_over.wait(), window)
        self.streams.drain()
        await self._server.stop(grace)
        for hook in self._on_stop:
            await hook()
        logger.info("stopped")

    async def serve(self) -> None:
        """Start, then serve until SIGTERM or SIGINT, then drain and stop."""
        await self.start()
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_requested.set)
        try:
            await stop_requested.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop()
