"""Wiring for the pricing service: config, database, inventory client, server. The entry point."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stockroom.common.client import connect
from stockroom.common.config import ServerConfig
from stockroom.common.database import create_engine, ping
from stockroom.common.entrypoint import run_service
from stockroom.common.server import GrpcServer, ServiceRegistration
from stockroom.inventory.v1 import inventory_pb2_grpc
from stockroom.pricing.api import PricingServicer
from stockroom.pricing.availability import InventoryAvailability
from stockroom.pricing.store import PriceStore
from stockroom.pricing.v1 import pricing_pb2, pricing_pb2_grpc

SERVICE_NAME = pricing_pb2.DESCRIPTOR.services_by_name["PricingService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULTS: dict[str, object] = {
    "port": 50052,
    "database_url": "sqlite+aiosqlite:///var/pricing.db",
}
INVENTORY_TARGET_ENV = "PRICING_INVENTORY_TARGET"
DEFAULT_INVENTORY_TARGET = "127.0.0.1:50051"


@dataclass(frozen=True)
class PricingConfig:
    server: ServerConfig
    inventory_target: str = DEFAULT_INVENTORY_TARGET


def load_config() -> PricingConfig:
    return PricingConfig(
        server=ServerConfig.from_env("pricing", "PRICING", defaults=DEFAULTS),
        inventory_target=os.environ.get(INVENTORY_TARGET_ENV, DEFAULT_INVENTORY_TARGET),
    )


async def build_server(config: PricingConfig) -> GrpcServer:
    """Everything a running pricing server depends on, on one screen."""
    engine = create_engine(config.server.database_url)
    inventory_channel = connect(config.inventory_target)
    availability = InventoryAvailability(inventory_pb2_grpc.InventoryServiceStub(inventory_channel))
    servicer = PricingServicer(PriceStore(engine), availability)

    async def close_inventory_channel() -> None:
        await inventory_channel.close()

    return GrpcServer(
        config.server,
        [
            ServiceRegistration(
                SERVICE_NAME,
                lambda server: pricing_pb2_grpc.add_PricingServiceServicer_to_server(
                    servicer, server
                ),
            )
        ],
        readiness_checks=[lambda: ping(engine)],
        on_stop=[close_inventory_channel, engine.dispose],
    )


def main(argv: list[str] | None = None) -> None:
    config = load_config()
    run_service(config.server, lambda: build_server(config), MIGRATIONS, argv)
