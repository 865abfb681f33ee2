"""``stockroom <service> health``: what the standard gRPC health service says."""

from __future__ import annotations

from typing import Any

import click
import grpc

from stockroom.cli.calls import Call, call_options
from stockroom.cli.failures import EXIT_UNREACHABLE, Failure
from stockroom.common.server import SERVING, check_health


def health_command(service: str) -> click.Command:
    @click.command("health")
    @click.option(
        "--service-name", default="", help="a service's full name, or liveness ('' = the server)"
    )
    @call_options(service)
    def health(call: Call, service_name: str) -> None:
        """SERVING (exit 0) or NOT_SERVING (exit 4): whether the service takes traffic."""

        async def ask(channel: grpc.aio.Channel) -> Any:
            return await check_health(channel, service_name, timeout_s=call.timeout_s)

        status = call.run(ask)
        name = "SERVING" if status == SERVING else "NOT_SERVING"
        call.printer.result({"target": call.target, "service": service_name, "status": name})
        if status != SERVING:
            raise Failure(f"{service} at {call.target} is {name}", EXIT_UNREACHABLE)

    return health
