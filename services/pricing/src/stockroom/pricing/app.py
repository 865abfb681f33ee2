"""Wiring for the pricing service: config, database, inventory client, server. The entry point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc

from stockroom.common.client import Policy, channel_credentials, connect
from stockroom.common.db import Clock, create_engine, ping, replica_reads, utc_now
from stockroom.common.server import (
    GrpcServer,
    ServerConfig,
    ServiceRegistration,
    run_service,
    settings_from_env,
)
from stockroom.inventory.v1 import inventory_pb2_grpc
from stockroom.pricing.api.servicer import PricingServicer
from stockroom.pricing.availability import InventoryAvailability
from stockroom.pricing.price_book import PriceBook
from stockroom.pricing.promotion_book import PromotionBook
from stockroom.pricing.quoter import Quoter
from stockroom.pricing.store.prices import PriceStore
from stockroom.pricing.store.promotions import PromotionStore
from stockroom.pricing.store.quotes import QuoteStore
from stockroom.pricing.v1 import pricing_pb2, pricing_pb2_grpc

SERVICE_NAME = pricing_pb2.DESCRIPTOR.services_by_name["PricingService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULTS: dict[str, object] = {
    "port": 50052,
    "database_url": "sqlite+aiosqlite:///var/pricing.db",
}


@dataclass(frozen=True)
class PricingSettings:
    """Everything pricing is configured with: the common server settings and its own
    (``PRICING_<FIELD>`` variables, read by ``from_env``)."""

    server: ServerConfig
    # PRICING_INVENTORY_TARGET: where inventory's CheckAvailability is.
    inventory_target: str = "127.0.0.1:50051"
    # PRICING_AVAILABILITY_MAX_WAIT_S: the longest a quote waits for inventory;
    # all of it when the caller set no deadline.
    availability_max_wait_s: float = 1.0
    # PRICING_AVAILABILITY_RESERVE_S: kept back from the caller's deadline for
    # storing the quote and replying after inventory answers.
    availability_reserve_s: float = 0.1
    # PRICING_QUOTE_TTL_S: how long GetQuote honours a quote.
    quote_ttl_s: float = 900.0
    # PRICING_INVENTORY_TLS_CA_FILE: call inventory over TLS, trusting this CA;
    # with PRICING_INVENTORY_TLS_CERT_FILE and _KEY_FILE, over mTLS as that identity.
    inventory_tls_ca_file: str = ""
    inventory_tls_cert_file: str = ""
    inventory_tls_key_file: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PricingSettings:
        server = ServerConfig.from_env("pricing", "PRICING", defaults=DEFAULTS, env=env)
        return settings_from_env(cls, "PRICING", env, given={"server": server})


def connect_inventory(settings: PricingSettings) -> grpc.aio.Channel:
    """The channel to inventory: the one place its client policy is chosen.

    The common library's defaults fit: deadlines come from the quote being
    served (and are bounded again by ``InventoryAvailability``), the read is
    retried within a budget because the proto marks CheckAvailability
    ``NO_SIDE_EFFECTS``, and a breaker fails fast while inventory is sick, so
    quotes answer with availability UNKNOWN at once instead of waiting.
    """
    credentials = None
    if settings.inventory_tls_ca_file:
        credentials = channel_credentials(
            settings.inventory_tls_ca_file,
            settings.inventory_tls_cert_file or None,
            settings.inventory_tls_key_file or None,
        )
    return connect(settings.inventory_target, Policy(), credentials=credentials)


async def build_server(
    settings: PricingSettings,
    *,
    inventory_channel: grpc.aio.Channel | None = None,
    clock: Clock = utc_now,
) -> GrpcServer:
    """Everything a running pricing server depends on, on one screen.

    ``inventory_channel`` replaces the channel ``connect_inventory`` opens (tests
    inject one); the server closes it either way when it stops.
    """
    engine = create_engine(settings.server.database_url)
    # GetQuote stays on the primary: a caller looks up the quote it just made.
    reads = replica_reads(settings.server, engine, fresh_methods=[f"/{SERVICE_NAME}/GetQuote"])
    channel = inventory_channel or connect_inventory(settings)
    availability = InventoryAvailability(
        inventory_pb2_grpc.InventoryServiceStub(channel),
        max_wait_s=settings.availability_max_wait_s,
        reserve_s=settings.availability_reserve_s,
    )
    price_store, promotion_store = PriceStore(engine), PromotionStore(engine)
    servicer = PricingServicer(
        PriceBook(price_store, clock),
        PromotionBook(promotion_store, clock),
        Quoter(
            price_store,
            promotion_store,
            QuoteStore(engine),
            availability,
            clock,
            timedelta(seconds=settings.quote_ttl_s),
        ),
    )

    async def close_inventory_channel() -> None:
        await channel.close()

    return GrpcServer(
        settings.server,
        [
            ServiceRegistration(
                SERVICE_NAME,
                lambda server: pricing_pb2_grpc.add_PricingServiceServicer_to_server(
                    servicer, server
                ),
            )
        ],
        interceptors=reads.interceptors,
        readiness_checks=[lambda: ping(engine)],
        on_stop=[close_inventory_channel, engine.dispose, *reads.on_stop],
    )


def main(argv: list[str] | None = None) -> None:
    settings = PricingSettings.from_env()
    run_service(settings.server, lambda: build_server(settings), MIGRATIONS, argv)
