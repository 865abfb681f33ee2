"""``stockroom dev up``: both services on this machine, a short demo, then keep serving.

Everything lives under ``var/dev`` (SQLite files, logs); nothing else needs
to be installed or running. The quote's trace is printed as a tree, or sent to
the collector ``OTEL_EXPORTER_OTLP_ENDPOINT`` names (``demo_trace``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import uuid
from pathlib import Path

from google.type import money_pb2

from stockroom.cli.demo_trace import show_quote_trace, telemetry_destination
from stockroom.cli.processes import ServiceProcess, start_service, wait_until_serving
from stockroom.common.client import connect
from stockroom.common.testing import OtlpReceiver
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from stockroom.pricing.v1 import pricing_pb2, pricing_pb2_grpc

STATE_DIR = Path("var/dev")


def add_parser(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = subcommands.add_parser("dev", help="run the services locally")
    actions = dev.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start inventory and pricing, run the demo, keep serving")
    up.add_argument("--inventory-port", type=int, default=50051)
    up.add_argument("--pricing-port", type=int, default=50052)
    up.add_argument("--exit-after-demo", action="store_true", help="stop once the demo ran")
    up.add_argument("--keep-data", action="store_true", help="keep the databases of the last run")
    up.set_defaults(handler=lambda args: asyncio.run(up_command(args)))


def prepare_state_dir(keep_data: bool) -> None:
    """The demo starts from empty databases unless asked to keep them, so every run
    shows the same numbers."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    if not keep_data:
        for database in STATE_DIR.glob("*.db*"):
            database.unlink()


async def up_command(args: argparse.Namespace) -> int:
    prepare_state_dir(args.keep_data)
    async with telemetry_destination() as (telemetry_env, receiver):
        return await run_services(args, telemetry_env, receiver)


async def run_services(
    args: argparse.Namespace, telemetry_env: dict[str, str], receiver: OtlpReceiver | None
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
