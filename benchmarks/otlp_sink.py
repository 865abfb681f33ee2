"""An OTLP/gRPC endpoint that accepts traces and metrics and throws them away, as cheaply as
possible, so the tracing scenarios price the exporting service and not the collector.

    python -m benchmarks.otlp_sink --port 4317
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import grpc

# An empty Export*ServiceResponse serializes to no bytes at all.
EXPORTS = {
    "opentelemetry.proto.collector.trace.v1.TraceService": "Export",
    "opentelemetry.proto.collector.metrics.v1.MetricsService": "Export",
}


async def _accept(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return b""


async def serve(port: int) -> None:
    server = grpc.aio.server()
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(_accept)
    server.add_generic_rpc_handlers(
        tuple(
            grpc.method_handlers_generic_handler(service, {method: handler})
            for service, method in EXPORTS.items()
        )
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
