"""Wiring for the inventory service: config, database, servicer, server. The entry point."""

from __future__ import annotations

from pathlib import Path

from stockroom.common.config import ServerConfig
from stockroom.common.database import create_engine, ping
from stockroom.common.entrypoint import run_service
from stockroom.common.server import GrpcServer, ServiceRegistration
from stockroom.inventory.api import InventoryServicer
from stockroom.inventory.store import InventoryStore
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc

SERVICE_NAME = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULTS: dict[str, object] = {
    "port": 50051,
    "database_url": "sqlite+aiosqlite:///var/inventory.db",
}


def load_config() -> ServerConfig:
    return ServerConfig.from_env("inventory", "INVENTORY", defaults=DEFAULTS)


async def build_server(config: ServerConfig) -> GrpcServer:
    """Everything a running inventory server depends on, on one screen."""
    engine = create_engine(config.database_url)
    servicer = InventoryServicer(InventoryStore(engine))
    return GrpcServer(
        config,
        [
            ServiceRegistration(
                SERVICE_NAME,
                lambda server: inventory_pb2_grpc.add_InventoryServiceServicer_to_server(
                    servicer, server
                ),
            )
        ],
        readiness_checks=[lambda: ping(engine)],
        on_stop=[engine.dispose],
    )


def main(argv: list[str] | None = None) -> None:
    config = load_config()
    run_service(config, lambda: build_server(config), MIGRATIONS, argv)
