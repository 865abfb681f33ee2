"""The command line every service shares: ``serve`` (migrating first) or ``migrate``.

``python -m stockroom.<service>`` ends in ``run_service``; production can run
``migrate`` once as a job and start replicas with ``serve --no-migrate``.
Serving configures logging and the OpenTelemetry SDK (``OTEL_*``) first, and
flushes telemetry, briefly, after the server has drained.

``--workers N`` (or ``<SERVICE>_WORKERS=N``) with N > 1 serves from N
processes on the same port: this process migrates, then supervises N copies
of itself started as ``serve --no-migrate --workers 1`` (``_workers``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from stockroom.common.server._collector import tune_collector
from stockroom.common.server._config import ConfigError, ServerConfig
from stockroom.common.server._grpc_server import GrpcServer
from stockroom.common.server._logs import configure_logging
from stockroom.common.server._workers import Supervisor, worker_index
from stockroom.common.telemetry import configure_telemetry

logger = logging.getLogger("stockroom.common.server")


def run_service(
    config: ServerConfig,
    build_server: Callable[[], Awaitable[GrpcServer]],
    migrations: Path,
    argv: Sequence[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m stockroom.{config.service_name}")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate"],
        help="serve (the default; migrates the database first unless --no-migrate) or migrate",
    )
    parser.add_argument("--no-migrate", action="store_true", help="serve without migrating")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"server processes sharing the port (default: {config.service_name.upper()}_WORKERS "
        f"or 1; about one per core)",
    )
    args = parser.parse_args(argv)
    configure_logging(config.service_name, config.log_level)
    create_sqlite_directory(config.database_url)
    if args.command == "migrate":
        asyncio.run(_migrate(migrations, config.database_url))
        return
    workers = config.workers if args.workers is None else args.workers
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, not {workers}")
    if workers > 1:
        _supervise(config, workers, migrations, migrate_first=not args.no_migrate)
        return
    index = worker_index()
    telemetry = configure_telemetry(
        config.service_name,
        prometheus_host=config.host,
        # Each worker of a supervisor serves its metrics on its own port.
        prometheus_port=config.prometheus_port + index if config.prometheus_port else 0,
    )
    try:
        with asyncio.Runner(loop_factory=loop_factory(config.event_loop)) as runner:
            runner.run(_serve(config, build_server, migrations, migrate_first=not args.no_migrate))
    finally:
        if telemetry is not None:
            telemetry.shutdown()


def create_sqlite_directory(database_url: str) -> None:
    """A SQLite file's folder (``var/`` on a fresh clone, ``/data/var`` in the image) is
    created on start: SQLite creates the file, not the folders above it."""
    prefix, sep, path = database_url.partition(":///")
    if not sep or not prefix.startswith("sqlite"):
        return
    path = path.split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop a server runs on (``EVENT_LOOP``); None: asyncio's own.

    uvloop by default: it cut the CPU per call by about a fifth on the echo stack and
    a tenth on CheckAvailability (docs/performance.md).
    """
    if name not in ("auto", "uvloop", "asyncio"):
        raise ConfigError(f"EVENT_LOOP={name!r} is not one of auto, uvloop, asyncio")
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError as exc:
        if name == "uvloop":
            raise ConfigError(
                "EVENT_LOOP=uvloop but uvloop is not installed (stockroom-common[serve])"
            ) from exc
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _supervise(
    config: ServerConfig, workers: int, migrations: Path, *, migrate_first: bool
) -> None:
    if config.port == 0:
        raise ConfigError("several workers need a fixed port to share (PORT is 0)")
    if migrate_first:
        asyncio.run(_migrate(migrations, config.database_url))
    command = [
        sys.executable,
        "-m",
        _main_module(config),
        "serve",
        "--no-migrate",
        "--workers",
        "1",
    ]
    # A worker drains for up to drain_grace_s, then flushes telemetry for up to 5 s.
    supervisor = Supervisor(command, workers, drain_timeout_s=config.drain_grace_s + 10)
    code = asyncio.run(supervisor.run())
    if code:
        raise SystemExit(code)


def _main_module(config: ServerConfig) -> str:
    """The module this process runs as (``python -m stockroom.inventory``)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is not None and spec.name:
        return str(spec.name).removesuffix(".__main__")
    return f"stockroom.{config.service_name}"


async def _serve(
    config: ServerConfig,
    build_server: Callable[[], Awaitable[GrpcServer]],
    migrations: Path,
    *,
    migrate_first: bool,
) -> None:
    if migrate_first:
        await _migrate(migrations, config.database_url)
    loop = type(asyncio.get_running_loop())
    logger.info("event loop", extra={"event_loop": f"{loop.__module__}.{loop.__qualname__}"})
    server = await build_server()
    tune_collector(config.gc_threshold)
    await server.serve()


# Startup waits for the database this many times, the pause doubling up to 8 s (~2 min).
STARTUP_ATTEMPTS = 20


async def _migrate(migrations: Path, database_url: str) -> None:
    """Upgrade the database to head, waiting for it with backoff if it is not up yet (one
    JSON log line per attempt); imported on call, the ``db`` extra is the service's."""
    from stockroom.common.db._engine import migrate as upgrade
    from stockroom.common.db._outage import unreachable

    pause_s = 0.5
    for attempt in range(1, STARTUP_ATTEMPTS + 1):
        try:
            await upgrade(migrations, database_url)
            return
        except Exception as error:
            if not unreachable(error) or attempt == STARTUP_ATTEMPTS:
                raise
            logger.warning(
                "database not reachable at startup; retrying",
                extra={
                    "attempt": attempt,
                    "retry_in_s": pause_s,
                    "error": (str(error).splitlines() or [type(error).__name__])[0][:300],
                },
            )
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, 8.0)


def run_main(main: Callable[[], None]) -> None:
    """Run a service's ``main``, ending a bad setting or an unreachable database with one
    log line that names the problem (exit status 2 and 1) instead of a traceback."""
    try:
        main()
    except ConfigError as error:
        _last_words("bad setting", error)
        raise SystemExit(2) from None
    except Exception as error:
        from stockroom.common.db._outage import unreachable

        if not unreachable(error):
            raise
        _last_words("database unreachable; giving up", error)
        raise SystemExit(1) from None


def _last_words(message: str, error: BaseException) -> None:
    line = {"level": "ERROR", "message": message, "error": str(error).splitlines()[0][:500]}
    print(json.dumps(line), file=sys.stderr, flush=True)
