"""The command line every service shares: ``serve`` (migrating first) or ``migrate``.

``python -m stockroom.<service>`` ends in ``run_service``; production can run
``migrate`` once as a job and start replicas with ``serve --no-migrate``.
Serving configures logging and the OpenTelemetry SDK (``OTEL_*``) first, and
flushes telemetry, briefly, after the server has drained.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from stockroom.common.server._config import ServerConfig
from stockroom.common.server._grpc_server import GrpcServer
from stockroom.common.server._logs import configure_logging
from stockroom.common.telemetry import configure_telemetry


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
    args = parser.parse_args(argv)
    configure_logging(config.service_name, config.log_level)
    if args.command == "migrate":
        asyncio.run(_migrate(migrations, config.database_url))
        return
    telemetry = configure_telemetry(
        config.service_name, prometheus_host=config.host, prometheus_port=config.prometheus_port
    )
    try:
        asyncio.run(_serve(config, build_server, migrations, migrate_first=not args.no_migrate))
    finally:
        if telemetry is not None:
            telemetry.shutdown()


async def _serve(
    config: ServerConfig,
    build_server: Callable[[], Awaitable[GrpcServer]],
    migrations: Path,
    *,
    migrate_first: bool,
) -> None:
    if migrate_first:
        await _migrate(migrations, config.database_url)
    server = await build_server()
    await server.serve()


async def _migrate(migrations: Path, database_url: str) -> None:
    """Upgrade the database to head; imported on call, the ``db`` extra is the service's."""
    from stockroom.common.db._engine import migrate as upgrade

    await upgrade(migrations, database_url)
