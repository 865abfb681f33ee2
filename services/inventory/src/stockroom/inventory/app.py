"""Wiring for the inventory service: config, database, stores, servicer, background jobs,
server. The entry point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stockroom.common.db import create_engine, ping
from stockroom.common.server import (
    GrpcServer,
    ServerConfig,
    ServiceRegistration,
    run_service,
    settings_from_env,
)
from stockroom.common.telemetry import gauge
from stockroom.inventory.api import InventoryServicer
from stockroom.inventory.background import BackgroundJobs, sweep_expired_reservations
from stockroom.inventory.store.catalog import CatalogStore
from stockroom.inventory.store.clock import Clock, utc_now
from stockroom.inventory.store.history import LedgerHistory
from stockroom.inventory.store.reservations import ReservationStore
from stockroom.inventory.store.stock import StockStore
from stockroom.inventory.store.transactions import Transactions
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from stockroom.inventory.watch import LedgerTail

SERVICE_NAME = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULTS: dict[str, object] = {
    "port": 50051,
    "database_url": "sqlite+aiosqlite:///var/inventory.db",
}


@dataclass(frozen=True)
class InventorySettings:
    """Everything inventory is configured with: the common server settings and its own
    (``INVENTORY_<FIELD>`` variables, read by ``from_env``)."""

    server: ServerConfig
    # How often each replica looks for expired reservations; expiry is at most this late.
    sweep_interval_s: float = 1.0
    # How often the ledger tail looks for commits made by other replicas.
    watch_poll_interval_s: float = 0.2

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InventorySettings:
        server = ServerConfig.from_env("inventory", "INVENTORY", defaults=DEFAULTS, env=env)
        return settings_from_env(cls, "INVENTORY", env, given={"server": server})


async def build_server(settings: InventorySettings, clock: Clock = utc_now) -> GrpcServer:
    """Everything a running inventory server depends on, on one screen."""
    config = settings.server
    engine = create_engine(config.database_url)
    transactions = Transactions(engine)
    history = LedgerHistory(transactions)
    tail = LedgerTail(history, settings.watch_poll_interval_s)
    reservations = ReservationStore(transactions, clock, on_commit=tail.nudge)
    servicer = InventoryServicer(
        CatalogStore(transactions, clock),
        StockStore(transactions, clock, on_commit=tail.nudge),
        reservations,
        history,
        tail,
    )
    jobs = BackgroundJobs()
    jobs.start("ledger-tail", tail.run)
    held = gauge(
        "stockroom.inventory.reservations.held",
        unit="{reservation}",
        description="Reservations holding stock, counted after each expiry sweep",
    )
    jobs.start(
        "expiry-sweeper",
        lambda: sweep_expired_reservations(
            reservations, settings.sweep_interval_s, report_active=held.set
        ),
    )
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
        on_stop=[jobs.stop, engine.dispose],
    )


def main(argv: list[str] | None = None) -> None:
    settings = InventorySettings.from_env()
    run_service(settings.server, lambda: build_server(settings), MIGRATIONS, argv)
