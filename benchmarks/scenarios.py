"""What ``make bench`` measures. Each scenario starts its servers, then is driven by
h2load (fixed request) and/or the Python driver (a fresh request per call)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import grpc

from benchmarks import inventory_writes
from benchmarks.processes import free_port, server_process
from benchmarks.report import BASELINE
from benchmarks.services import (
    AVAILABILITY_REQUEST,
    CHECK_AVAILABILITY,
    QUOTE,
    QUOTE_REQUEST,
    RESERVE_STOCK,
    inventory_server,
    pricing_and_inventory,
)
from stockroom.common.testing import ECHO_METHOD

ECHO_PAYLOAD = b"stockroom-bench-payload-32-bytes"


@dataclass(frozen=True)
class Scenario:
    name: str
    servers: Callable[[], contextlib.AbstractContextManager[str]]
    method: str
    h2load_message: bytes | None = None
    python_factory: str | None = None
    # h2load's connections and streams on each, when not the run's (8 x 8 by default).
    h2load_load: tuple[int, int] | None = None


@contextlib.contextmanager
def echo_server(*, stack: bool, loop: str = "asyncio") -> Iterator[str]:
    port = free_port()
    args = ["benchmarks.echo_server", "--port", str(port), "--loop", loop]
    args += ["--stack"] if stack else []
    with server_process(args, port, {"ECHO_LOG_LEVEL": "WARNING"}) as address:
        yield address


@contextlib.contextmanager
def exporting_echo_server(
    sampler_ratio: float | None, *, metrics: bool, loop: str = "uvloop"
) -> Iterator[str]:
    """The stack with the SDK on, exporting over OTLP to a sink process that discards what it
    gets: every span (or ``sampler_ratio`` of the traces; None: no traces) and, with
    ``metrics``, the metrics (each row prices one signal). On uvloop by default: the loop
    the services run (``<SERVICE>_EVENT_LOOP=auto``)."""
    sink_port, port = free_port(), free_port()
    sink_args = ["benchmarks.otlp_sink", "--port", str(sink_port)]
    with server_process(sink_args, sink_port, measured=False) as sink:
        env = {
            "ECHO_LOG_LEVEL": "WARNING",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{sink}",
            "OTEL_METRICS_EXPORTER": "otlp" if metrics else "none",
        }
        if sampler_ratio is None:
            env["OTEL_TRACES_EXPORTER"] = "none"
        else:
            env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
            env["OTEL_TRACES_SAMPLER_ARG"] = str(sampler_ratio)
        args = ["benchmarks.echo_server", "--port", str(port), "--loop", loop]
        args += ["--stack", "--tracing"]
        with server_process(args, port, env) as address:
            yield address


def echo_call(channel: grpc.aio.Channel, worker: int) -> Callable[[int], Awaitable[None]]:
    echo: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(ECHO_METHOD)

    async def call(n: int) -> None:
        await echo(ECHO_PAYLOAD, timeout=5)

    return call


SCENARIOS: list[Scenario] = [
    Scenario(
        BASELINE,
        lambda: echo_server(stack=False),
        ECHO_METHOD,
        h2load_message=ECHO_PAYLOAD,
        python_factory="benchmarks.scenarios:echo_call",
    ),
    Scenario(
        "echo (Stockroom server stack)",
        lambda: echo_server(stack=True),
        ECHO_METHOD,
        h2load_message=ECHO_PAYLOAD,
        python_factory="benchmarks.scenarios:echo_call",
    ),
    Scenario(
        "echo (Stockroom server stack, uvloop)",
        lambda: echo_server(stack=True, loop="uvloop"),
        ECHO_METHOD,
        h2load_message=ECHO_PAYLOAD,
        python_factory="benchmarks.scenarios:echo_call",
    ),
    Scenario(
        "echo (stack + tracing, every call)",
        lambda: exporting_echo_server(1.0, metrics=False),
        ECHO_METHOD,
        h2load_message=ECHO_PAYLOAD,
        python_factory="benchmarks.scenarios:echo_call",
    ),
    Scenario(
        "echo (stack + tracing, 10% sampled)",
        lambda: exporting_echo_server(0.1, metrics=False),
        ECHO_METHOD,
        h2load_message=ECHO_PAYLOAD,
        python_factory="benchmarks.scenarios:echo_call",
    ),
    Scenario(
        "echo (stack + metrics exported)",
        lambda: exporting_echo_server(None, metrics=True),
        ECHO_METHOD,
        h2load_message=ECHO_PAYLOAD,
        python_factory="benchmarks.scenarios:echo_call",
    ),
    Scenario(
        "inventory CheckAvailability, 3 lines (PostgreSQL)",
        inventory_server,
        CHECK_AVAILABILITY,
        h2load_message=AVAILABILITY_REQUEST,
    ),
    # A few clients rather than a saturating crowd: how long a read batch gathers matters
    # most here (its ratio is to echo at the run's load, 64 streams).
    Scenario(
        "inventory CheckAvailability, 3 lines, 8 calls in flight (PostgreSQL)",
        inventory_server,
        CHECK_AVAILABILITY,
        h2load_message=AVAILABILITY_REQUEST,
        h2load_load=(2, 4),
    ),
    Scenario(
        "inventory CheckAvailability, 3 lines, 2 workers (PostgreSQL)",
        lambda: inventory_server(workers=2),
        CHECK_AVAILABILITY,
        h2load_message=AVAILABILITY_REQUEST,
    ),
    Scenario(
        "inventory ReserveStock, 1 line (PostgreSQL)",
        inventory_server,
        RESERVE_STOCK,
        python_factory="benchmarks.services:reserve_call",
    ),
    Scenario(
        "inventory ReserveStock, 3 lines (PostgreSQL)",
        inventory_server,
        RESERVE_STOCK,
        python_factory="benchmarks.services:reserve_3_lines_call",
    ),
    Scenario(
        "inventory ReserveStock + ConfirmReservation, 1 line (PostgreSQL; pairs/s)",
        inventory_server,
        RESERVE_STOCK,
        python_factory="benchmarks.services:reserve_and_confirm_call",
    ),
    Scenario(
        "inventory ReserveStock, 1 line, one hot SKU (PostgreSQL; oversell checked after)",
        inventory_writes.hot_sku_server,
        RESERVE_STOCK,
        python_factory="benchmarks.inventory_writes:hot_sku_call",
    ),
    Scenario(
        "inventory ReserveStock, 1 line, 10k-SKU catalog (PostgreSQL)",
        inventory_writes.catalog_server(inventory_writes.CATALOG_10K),
        RESERVE_STOCK,
        python_factory="benchmarks.inventory_writes:reserve_in_10k_catalog",
    ),
    Scenario(
        "inventory ReserveStock, 1 line, 1M-SKU catalog (PostgreSQL)",
        inventory_writes.catalog_server(inventory_writes.CATALOG_1M),
        RESERVE_STOCK,
        python_factory="benchmarks.inventory_writes:reserve_in_1m_catalog",
    ),
    Scenario(
        "pricing Quote, 3 lines, asks inventory (PostgreSQL)",
        pricing_and_inventory,
        QUOTE,
        h2load_message=QUOTE_REQUEST,
    ),
    Scenario(
        "pricing Quote, 3 lines, asks inventory, 2 pricing workers (PostgreSQL)",
        lambda: pricing_and_inventory(pricing_workers=2),
        QUOTE,
        h2load_message=QUOTE_REQUEST,
    ),
]
