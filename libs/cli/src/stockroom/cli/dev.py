"""``stockroom dev up``: both services on this machine, a short demo, then keep serving.

Everything lives under ``var/dev`` (SQLite files, logs); nothing else needs
to be installed or running. The quote's trace is printed as a tree, or sent to
the collector ``OTEL_EXPORTER_OTLP_ENDPOINT`` names (``demo_trace``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click
from google.type import money_pb2

from stockroom.cli.demo_trace import show_quote_trace, telemetry_destination
from stockroom.cli.processes import ServiceProcess, start_service, wait_until_serving
from stockroom.common.client import connect
from stockroom.common.testing import OtlpReceiver
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from stockroom.pricing.v1 import pricing_pb2, pricing_pb2_grpc

STATE_DIR = Path("var/dev")
# Held (flock) by the running `dev up` for its whole life; the kernel releases it when
# that process ends, however it ends, so a stale file never blocks the next run.
LOCK_FILE = "instance.lock"
# Where the running instance says what it runs, for the second `make run` to print.
INSTANCE_FILE = "instance.json"


@dataclass(frozen=True)
class UpOptions:
    inventory_port: int
    pricing_port: int
    exit_after_demo: bool
    keep_data: bool


@click.group(name="dev", no_args_is_help=True)
def group() -> None:
    """Run the services on this machine."""


@group.command("up")
@click.option("--inventory-port", type=click.IntRange(1, 65535), default=50051, show_default=True)
@click.option("--pricing-port", type=click.IntRange(1, 65535), default=50052, show_default=True)
@click.option("--exit-after-demo", is_flag=True, help="stop once the demo ran")
@click.option("--keep-data", is_flag=True, help="keep the databases of the last run")
def up(inventory_port: int, pricing_port: int, exit_after_demo: bool, keep_data: bool) -> None:
    """Start inventory and pricing, run the demo, keep serving (Ctrl-C stops).

    If this checkout already runs an instance, say where and leave it alone."""
    options = UpOptions(inventory_port, pricing_port, exit_after_demo, keep_data)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with single_instance(STATE_DIR) as lock:
        if lock is None:
            print(describe_running_instance(STATE_DIR))
            return
        write_instance(options)
        asyncio.run(up_command(options))


@contextlib.contextmanager
def single_instance(state_dir: Path) -> Iterator[IO[str] | None]:
    """The instance lock, or None when another `dev up` holds it."""
    with (state_dir / LOCK_FILE).open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            yield lock
        finally:
            (state_dir / INSTANCE_FILE).unlink(missing_ok=True)
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_instance(options: UpOptions) -> None:
    facts = {
        "pid": os.getpid(),
        "inventory": f"127.0.0.1:{options.inventory_port}",
        "pricing": f"127.0.0.1:{options.pricing_port}",
        "directory": str(STATE_DIR.resolve()),
        "logs": str((STATE_DIR / "services.log").resolve()),
    }
    (STATE_DIR / INSTANCE_FILE).write_text(json.dumps(facts) + "\n")


def describe_running_instance(state_dir: Path) -> str:
    try:
        facts = json.loads((state_dir / INSTANCE_FILE).read_text())
    except (OSError, ValueError):
        where = state_dir.resolve()
        return f"an instance of `stockroom dev up` is already running in {where}; left alone"
    return (
        f"an instance is already running (pid {facts['pid']}) from {facts['directory']}:\n"
        f"  inventory  {facts['inventory']}\n"
        f"  pricing    {facts['pricing']}\n"
        f"  logs       {facts['logs']}\n"
        "left alone; stop it with Ctrl-C in its terminal (or kill "
        f"{facts['pid']}) before starting another"
    )


def prepare_state_dir(keep_data: bool) -> None:
    """The demo starts from empty databases unless asked to keep them, so every run
    shows the same numbers."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    if not keep_data:
        for database in STATE_DIR.glob("*.db*"):
            database.unlink()


async def up_command(args: UpOptions) -> int:
    prepare_state_dir(args.keep_data)
    async with telemetry_destination() as (telemetry_env, receiver):
        return await run_services(args, telemetry_env, receiver)


async def run_services(
    args: UpOptions, telemetry_env: dict[str, str], receiver: OtlpReceiver | None
) -> int:
    """Start both services, run the demo, show its trace, then serve until asked to stop."""
    inventory_address = f"127.0.0.1:{args.inventory_port}"
    pricing_address = f"127.0.0.1:{args.pricing_port}"
    services: list[ServiceProcess] = []
    with (STATE_DIR / "services.log").open("ab") as log:
        try:
            services.append(
                await start_service(
                    "inventory",
                    inventory_address,
                    {
                        **telemetry_env,
                        "INVENTORY_PORT": str(args.inventory_port),
                        "INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{STATE_DIR}/inventory.db",
                    },
                    log=log.fileno(),
                )
            )
            services.append(
                await start_service(
                    "pricing",
                    pricing_address,
                    {
                        **telemetry_env,
                        "PRICING_PORT": str(args.pricing_port),
                        "PRICING_DATABASE_URL": f"sqlite+aiosqlite:///{STATE_DIR}/pricing.db",
                        "PRICING_INVENTORY_TARGET": inventory_address,
                    },
                    log=log.fileno(),
                )
            )
            for service in services:
                await wait_until_serving(service)
                print(f"{service.name:<10} serving on {service.address}")
            await demo(inventory_address, pricing_address)
            await show_quote_trace(receiver)
            print(f"logs: {STATE_DIR / 'services.log'}")
            if not args.exit_after_demo:
                print("serving; Ctrl-C stops both services")
                await _wait_for_signal(services)
        finally:
            for service in services:
                await service.stop()
    return 0


async def demo(inventory_address: str, pricing_address: str) -> None:
    """Seed a little stock and a few prices, then quote a cart across both services."""
    async with (
        connect(inventory_address) as inventory_channel,
        connect(pricing_address) as pricing_channel,
    ):
        inventory = inventory_pb2_grpc.InventoryServiceStub(inventory_channel)
        pricing = pricing_pb2_grpc.PricingServiceStub(pricing_channel)
        for sku in ("MUG", "TEE"):
            await inventory.CreateItem(
                inventory_pb2.CreateItemRequest(
                    item=inventory_pb2.Item(sku=sku), request_id=str(uuid.uuid4())
                ),
                timeout=5,
            )
        for location in ("WH-1", "WH-2"):
            await inventory.CreateLocation(
                inventory_pb2.CreateLocationRequest(
                    location=inventory_pb2.Location(
                        location_id=location, kind=inventory_pb2.LOCATION_KIND_WAREHOUSE
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                timeout=5,
            )
        for sku, location, quantity in (
            ("MUG", "WH-1", 40),
            ("MUG", "WH-2", 10),
            ("TEE", "WH-1", 3),
        ):
            await inventory.ReceiveStock(
                inventory_pb2.ReceiveStockRequest(
                    sku=sku,
                    location_id=location,
                    quantity=quantity,
                    reference="demo",
                    request_id=str(uuid.uuid4()),
                ),
                timeout=5,
            )
        for sku, units, nanos in (("MUG", 12, 500_000_000), ("TEE", 19, 990_000_000)):
            await pricing.SetPrice(
                pricing_pb2.SetPriceRequest(
                    sku=sku,
                    unit_price=money_pb2.Money(currency_code="USD", units=units, nanos=nanos),
                ),
                timeout=5,
            )
        quote = await pricing.Quote(
            pricing_pb2.QuoteRequest(
                currency_code="USD",
                lines=[
                    pricing_pb2.CartLine(sku="MUG", quantity=4),
                    pricing_pb2.CartLine(sku="TEE", quantity=5),
                ],
            ),
            timeout=5,
        )
    print("\nquote for 4 x MUG + 5 x TEE (pricing asked inventory for availability):")
    for line in quote.lines:
        availability = pricing_pb2.Availability.Name(line.availability).removeprefix(
            "AVAILABILITY_"
        )
        print(
            f"  {line.sku:<5} {line.quantity:>3} x {format_money(line.unit_price):>10}"
            f" = {format_money(line.total):>10}   {availability}"
            f" ({line.available_quantity} available)"
        )
    print(f"  subtotal {format_money(quote.subtotal):>31}\n")


def format_money(money: money_pb2.Money) -> str:
    sign = "-" if money.units < 0 or money.nanos < 0 else ""
    fraction = f"{abs(money.nanos):09d}".rstrip("0").ljust(2, "0")
    return f"{sign}{abs(money.units)}.{fraction} {money.currency_code}"


async def _wait_for_signal(services: list[ServiceProcess]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    exits = [asyncio.ensure_future(service.process.wait()) for service in services]
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait([waiter, *exits], return_when=asyncio.FIRST_COMPLETED)
    for task in (waiter, *exits):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
