"""The baseline: a grpc.aio echo server with nothing on the path, or the same handler
behind the full Stockroom server stack (``--stack``), to price our interceptors, with the
OpenTelemetry SDK configured from the OTEL_* variables as a service has it (``--tracing``),
on asyncio's event loop unless ``--loop uvloop``.

    python -m benchmarks.echo_server --port 50100 [--stack [--tracing]] [--loop uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import grpc

from stockroom.common.server import GrpcServer, ServerConfig, ServiceRegistration
from stockroom.common.server._collector import tune_collector
from stockroom.common.server._entrypoint import loop_factory
from stockroom.common.telemetry import configure_telemetry
from stockroom.common.testing import ECHO_SERVICE as SERVICE_NAME


async def _echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return request


def add_bare_echo(server: grpc.aio.Server) -> None:
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(_echo)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE_NAME, {"Echo": handler}),)
    )


async def serve_bare(port: int) -> None:
    server = grpc.aio.server()
    add_bare_echo(server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await _until_terminated()
    await server.stop(0)


async def serve_with_stack(port: int) -> None:
    """The stack as ``run_service`` runs it: the server built, then the collector tuned
    (``ECHO_GC_THRESHOLD``, as ``<P>_GC_THRESHOLD`` for a service; 0 keeps CPython's)."""
    config = ServerConfig.from_env("echo", "ECHO", defaults={"port": port})
    server = GrpcServer(config, [ServiceRegistration(SERVICE_NAME, add_bare_echo)])
    tune_collector(config.gc_threshold)
    await server.serve()


async def _until_terminated() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stack", action="store_true", help="serve through GrpcServer")
    parser.add_argument("--tracing", action="store_true", help="configure the SDK from OTEL_*")
    parser.add_argument(
        "--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the event loop"
    )
    args = parser.parse_args()
    telemetry = configure_telemetry("echo") if args.tracing else None
    try:
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner,
        ):
            runner.run(serve_with_stack(args.port) if args.stack else serve_bare(args.port))
    finally:
        if telemetry is not None:
            telemetry.shutdown()


if __name__ == "__main__":
    main()
