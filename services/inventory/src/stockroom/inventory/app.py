"""Wiring for the inventory service: config, database, stores, servicer, background jobs,
server. The entry point."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stockroom.common.db import (
    DEFAULT_BATCHES,
    BatchSettings,
    create_engine,
    ping,
    replica_reads,
)
from stockroom.common.events import EventsConfig
from stockroom.common.events.relay import Relay
from stockroom.common.server import (
    GrpcServer,
    ServerConfig,
    ServiceRegistration,
    run_service,
    settings_from_env,
)
from stockroom.common.telemetry import gauge
from stockroom.inventory.api import InventoryServicer
from stockroom.inventory.background import (
    BackgroundJobs,
    sweep_expired_reservations,
    sweep_old_rows,
)
from stockroom.inventory.service.availability import AvailabilityReads
from stockroom.inventory.service.bulk import BulkAdjustments
from stockroom.inventory.service.catalog import CatalogService
from stockroom.inventory.service.events import LedgerEvents
from stockroom.inventory.service.history import LedgerHistory
from stockroom.inventory.service.reservations import ReservationService
from stockroom.inventory.service.retention import DEFAULT_SETTLED_RESERVATION_AGE_S, Retention
from stockroom.inventory.service.stock import StockService
from stockroom.inventory.service.supply import SupplyService
from stockroom.inventory.service.verification import LedgerVerification
from stockroom.inventory.service.writes import StockWrites
from stockroom.inventory.store.clock import Clock, utc_now
from stockroom.inventory.store.tables import outbox
from stockroom.inventory.store.transactions import Transactions
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from stockroom.inventory.watch import LedgerTail

SERVICE_NAME = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
# Side-effect-free reads that must see the caller's own writes: on the primary
# even with a read replica (a reservation just made is looked up next).
FRESH_READS = (f"/{SERVICE_NAME}/GetReservation", f"/{SERVICE_NAME}/ListReservations")
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
    # Group commit of writes (stockroom.common.db.GroupCommit): how long a batch waits for more
    # writes while another is in flight, its largest size, batches in flight at once.
    batch_window_ms: float = 2.0
    batch_max: int = 256
    batches_in_flight: int = 1
    # Request records (idempotency keys) are pruned this long after they were written:
    # a retry with the same request_id after that is a new request.
    request_record_retention_s: float = 7 * 86_400.0
    # Settled (confirmed, released, expired, mixed) reservations are pruned this long after
    # they were settled; their ledger entries stay.
    settled_reservation_retention_s: float = DEFAULT_SETTLED_RESERVATION_AGE_S
    # How often the retention sweep prunes request records, published events and settled
    # reservations.
    retention_interval_s: float = 60.0
    # Events to NATS JetStream (INVENTORY_EVENTS_* variables, read by EventsConfig):
    # INVENTORY_EVENTS_ENABLED=true turns them on; off by default, so no broker is needed.
    events: EventsConfig = field(default_factory=lambda: EventsConfig("inventory"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InventorySettings:
        server = ServerConfig.from_env("inventory", "INVENTORY", defaults=DEFAULTS, env=env)
        events = EventsConfig.from_env("inventory", "INVENTORY", env=env)
        return settings_from_env(cls, "INVENTORY", env, given={"server": server, "events": events})

    @property
    def batches(self) -> BatchSettings:
        return BatchSettings(self.batch_window_ms / 1000, self.batch_max, self.batches_in_flight)


@dataclass(frozen=True)
class UseCases:
    """The service layer of one process, wired on one database."""

    catalog: CatalogService
    stock: StockService
    reservations: ReservationService
    history: LedgerHistory
    writes: StockWrites
    bulk: BulkAdjustments
    supply: SupplyService
    verification: LedgerVerification


def use_cases(
    transactions: Transactions,
    clock: Clock = utc_now,
    batches: BatchSettings = DEFAULT_BATCHES,
    on_commit: Callable[[], None] = lambda: None,
    events: EventsConfig | None = None,
    calls_in_flight: Callable[[], int] | None = None,
) -> UseCases:
    ledger_events = LedgerEvents(events, outbox) if events and events.enabled else None
    writes = StockWrites(
        transactions,
        clock,
        batches,
        on_commit=on_commit,
        events=ledger_events,
        calls_in_flight=calls_in_flight,
    )
    return UseCases(
        CatalogService(transactions, clock),
        StockService(
            transactions,
            writes,
            AvailabilityReads(transactions, calls_in_flight=calls_in_flight),
            clock,
        ),
        ReservationService(transactions, writes, clock),
        LedgerHistory(transactions),
        writes,
        BulkAdjustments(writes),
        SupplyService(transactions, writes),
        LedgerVerification(transactions),
    )


async def build_server(settings: InventorySettings, clock: Clock = utc_now) -> GrpcServer:
    """Everything a running inventory server depends on, on one screen."""
    config = settings.server
    engine = create_engine(config.database_url)
    reads = replica_reads(config, engine, fresh_methods=FRESH_READS)
    transactions = Transactions(engine)
    tail = LedgerTail(LedgerHistory(transactions), settings.watch_poll_interval_s)
    server: GrpcServer | None = None

    def calls_in_flight() -> int:
        return server.shedder.in_flight if server is not None else 0

    cases = use_cases(
        transactions,
        clock,
        settings.batches,
        on_commit=tail.nudge,
        events=settings.events,
        calls_in_flight=calls_in_flight,
    )
    reservations = cases.reservations
    servicer = InventoryServicer(
        cases.catalog,
        cases.stock,
        cases.reservations,
        cases.history,
        tail,
        cases.bulk,
        cases.supply,
        cases.verification,
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
    retention = Retention(
        engine,
        clock,
        settings.request_record_retention_s,
        settings.events.keep_published_s,
        settings.settled_reservation_retention_s,
    )
    jobs.start(
        "retention-sweeper", lambda: sweep_old_rows(retention, settings.retention_interval_s)
    )
    stops: list[Callable[[], Awaitable[None]]] = [jobs.stop]
    if settings.events.enabled:
        relay = Relay(engine, outbox, settings.events)
        await relay.start()  # at once, broker or not: events wait in the outbox
        stops.append(relay.stop)
    server = GrpcServer(
        config,
        [
            ServiceRegistration(
                SERVICE_NAME,
                lambda server: inventory_pb2_grpc.add_InventoryServiceServicer_to_server(
                    servicer, server
                ),
            )
        ],
        interceptors=reads.interceptors,
        readiness_checks=[lambda: ping(engine)],
        on_stop=[*stops, engine.dispose, *reads.on_stop],
    )
    return server


def main(argv: list[str] | None = None) -> None:
    settings = InventorySettings.from_env()
    run_service(settings.server, lambda: build_server(settings), MIGRATIONS, argv)
