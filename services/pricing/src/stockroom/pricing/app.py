"""Wiring for the pricing service: config, database, inventory client, server. The entry point."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import grpc

from stockroom.common.client import Policy, channel_credentials, connect
from stockroom.common.db import BatchSettings, Clock, create_engine, ping, replica_reads, utc_now
from stockroom.common.events import EventsConfig, prune_forever, prune_published
from stockroom.common.events.relay import Relay
from stockroom.common.server import (
    ConfigError,
    GrpcServer,
    ServerConfig,
    ServiceRegistration,
    run_service,
    settings_from_env,
)
from stockroom.inventory.v1 import inventory_pb2_grpc
from stockroom.pricing.api.servicer import PricingServicer
from stockroom.pricing.availability import InventoryAvailability
from stockroom.pricing.cache import CatalogCache
from stockroom.pricing.domain.money import RoundingMode, minor_unit_exponent
from stockroom.pricing.domain.rounding import CurrencyRules
from stockroom.pricing.events import CatalogEvents
from stockroom.pricing.hold import InventoryHold
from stockroom.pricing.price_book import PriceBook
from stockroom.pricing.price_list_book import PriceListBook
from stockroom.pricing.promotion_book import PromotionBook
from stockroom.pricing.quoter import Quoter
from stockroom.pricing.redemption_book import RedemptionBook
from stockroom.pricing.refresher import keep_fresh
from stockroom.pricing.store.changes import ChangeLog
from stockroom.pricing.store.price_lists import PriceListStore
from stockroom.pricing.store.prices import PriceStore
from stockroom.pricing.store.promotions import PromotionStore
from stockroom.pricing.store.quotes import QuoteStore
from stockroom.pricing.store.redemptions import RedemptionStore
from stockroom.pricing.tables import outbox
from stockroom.pricing.v1 import pricing_pb2, pricing_pb2_grpc

SERVICE_NAME = pricing_pb2.DESCRIPTOR.services_by_name["PricingService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULTS: dict[str, object] = {
    "port": 50052,
    "database_url": "sqlite+aiosqlite:///var/pricing.db",
}
# The caches read the outbox after their last position: rows must outlive a
# cache's pauses between reads by far (cache.py starts over after half of it).
MIN_CHANGE_RETENTION_S = 60.0
# Settings of pricing's own publisher, replaced by the common PRICING_EVENTS_* ones.
RETIRED = {
    "PRICING_EVENTS_NATS_URL": "PRICING_EVENTS_ENABLED=true and PRICING_EVENTS_URL",
    "PRICING_EVENTS_SUBJECT": "PRICING_EVENTS_SUBJECT_PREFIX",
}

# Quote inserts (``store.quotes``): one in flight, the next gathering for up to 8 ms while
# the server has calls on their way to it. Measured with make bench's Quote row: 485 ->
# 708 quotes/s, 3,010 -> 2,211 us of CPU per quote (docs/performance.md).
QUOTE_BATCHES = BatchSettings(window_s=0.008, max_batch=256, max_in_flight=2)


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
    availability_reserve_s: float = 0.15
    # PRICING_QUOTE_TTL_S: how long GetQuote honours a quote.
    quote_ttl_s: float = 900.0
    # PRICING_INVENTORY_TLS_CA_FILE: call inventory over TLS, trusting this CA;
    # with PRICING_INVENTORY_TLS_CERT_FILE and _KEY_FILE, over mTLS as that identity.
    inventory_tls_ca_file: str = ""
    inventory_tls_cert_file: str = ""
    inventory_tls_key_file: str = ""
    # PRICING_ROUNDING_MODES ("CHF=HALF_UP,SEK=HALF_UP"): per-currency rounding
    # mode; half to even otherwise.
    rounding_modes: str = ""
    # PRICING_CASH_ROUNDING ("CHF=0.05"): per-currency cash rounding of the amount
    # due; none otherwise.
    cash_rounding: str = ""
    # PRICING_CACHE_STALENESS_MS: no quote uses a price or promotion superseded
    # longer than this before it started (see cache.py); at least 1.
    cache_staleness_ms: int = 1000
    # PRICING_RETENTION_INTERVAL_S: how often the sweeper prunes the outbox (its rows go
    # PRICING_EVENTS_KEEP_PUBLISHED_S after they were published, or written while
    # publishing is off).
    retention_interval_s: float = 60.0
    # Change events to NATS JetStream (PRICING_EVENTS_* variables, read by EventsConfig):
    # PRICING_EVENTS_ENABLED=true turns publishing on; the outbox is written either way.
    events: EventsConfig = field(default_factory=lambda: EventsConfig("pricing"))

    def __post_init__(self) -> None:
        """Refuse unusable values when the settings are made: at startup, naming the variable."""
        if self.cache_staleness_ms < 1:
            raise ConfigError(
                f"PRICING_CACHE_STALENESS_MS={self.cache_staleness_ms} must be at least 1"
            )
        if self.events.keep_published_s < MIN_CHANGE_RETENTION_S:
            raise ConfigError(
                f"PRICING_EVENTS_KEEP_PUBLISHED_S={self.events.keep_published_s} must be at "
                f"least {MIN_CHANGE_RETENTION_S:.0f}: the caches read the outbox's rows"
            )
        if self.retention_interval_s <= 0:
            raise ConfigError(
                f"PRICING_RETENTION_INTERVAL_S={self.retention_interval_s} must be positive"
            )
        parse_currency_rules(self.rounding_modes, self.cash_rounding)

    @property
    def currency_rules(self) -> CurrencyRules:
        """PRICING_ROUNDING_MODES and PRICING_CASH_ROUNDING, parsed."""
        return parse_currency_rules(self.rounding_modes, self.cash_rounding)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PricingSettings:
        variables = os.environ if env is None else env
        for name, instead in RETIRED.items():
            if name in variables:
                raise ConfigError(f"{name} is no longer read: set {instead} (docs/events.md)")
        server = ServerConfig.from_env("pricing", "PRICING", defaults=DEFAULTS, env=env)
        events = EventsConfig.from_env("pricing", "PRICING", env=env)
        return settings_from_env(cls, "PRICING", env, given={"server": server, "events": events})


def parse_currency_rules(modes: str, cash: str) -> CurrencyRules:
    """The rounding settings from their environment form; ConfigError names a bad entry."""
    parsed_modes: dict[str, RoundingMode] = {}
    for code, value in _pairs("PRICING_ROUNDING_MODES", modes):
        try:
            parsed_modes[code] = RoundingMode(value.upper())
        except ValueError:
            raise ConfigError(
                f"PRICING_ROUNDING_MODES: {code}={value!r} is not HALF_EVEN or HALF_UP"
            ) from None
    increments: dict[str, int] = {}
    for code, value in _pairs("PRICING_CASH_ROUNDING", cash):
        exponent = minor_unit_exponent(code)
        try:
            minor = Decimal(value).scaleb(exponent or 0)
        except InvalidOperation:
            minor = Decimal(-1)
        if exponent is None or minor != minor.to_integral_value() or minor <= 0:
            raise ConfigError(
                f"PRICING_CASH_ROUNDING: {code}={value!r} is not a positive amount of {code}"
                " in whole minor units"
            )
        increments[code] = int(minor)
    return CurrencyRules(parsed_modes, increments)


def _pairs(name: str, raw: str) -> list[tuple[str, str]]:
    pairs = []
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        code, separator, value = entry.partition("=")
        if not separator or minor_unit_exponent(code.strip()) is None:
            raise ConfigError(f"{name}: {entry!r} is not CURRENCY=VALUE with an ISO 4217 code")
        pairs.append((code.strip(), value.strip()))
    return pairs


def connect_inventory(settings: PricingSettings) -> grpc.aio.Channel:
    """The channel to inventory: the one place its client policy is chosen.

    The common library's defaults fit, but for the deadline: a call gets what
    is left of the quote being served, bounded by ``availability_max_wait_s``
    (``InventoryAvailability`` and ``InventoryHold`` open that scope), so the
    channel's own cap is that wait too; the library's 2 s would cut a longer
    configured wait short. The read is retried within a budget because the
    proto marks CheckAvailability ``NO_SIDE_EFFECTS``, and a breaker fails fast
    while inventory is sick, so quotes answer with availability UNKNOWN at once
    instead of waiting.
    """
    credentials = None
    if settings.inventory_tls_ca_file:
        credentials = channel_credentials(
            settings.inventory_tls_ca_file,
            settings.inventory_tls_cert_file or None,
            settings.inventory_tls_key_file or None,
        )
    policy = Policy(timeout_s=settings.availability_max_wait_s)
    return connect(settings.inventory_target, policy, credentials=credentials)


async def build_server(
    settings: PricingSettings,
    *,
    inventory_channel: grpc.aio.Channel | None = None,
    clock: Clock = utc_now,
    monotonic_ns: Callable[[], int] = time.monotonic_ns,
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
    changes = CatalogEvents(settings.events)
    price_store, list_store = PriceStore(engine, changes), PriceListStore(engine, changes)
    promotion_store = PromotionStore(engine, changes)
    keep_s = settings.events.keep_published_s
    cache = CatalogCache(
        price_store,
        list_store,
        promotion_store,
        ChangeLog(engine),
        staleness_ms=settings.cache_staleness_ms,
        clock=clock,
        monotonic_ns=monotonic_ns,
        log_retention_ms=int(keep_s * 1000),
    )
    server: GrpcServer | None = None

    def calls_in_flight() -> int:
        return server.shedder.in_flight if server is not None else 0

    quoter = Quoter(
        cache,
        cache,
        QuoteStore(engine, QUOTE_BATCHES, calls_in_flight=calls_in_flight),
        availability,
        clock,
        timedelta(seconds=settings.quote_ttl_s),
        settings.currency_rules,
        InventoryHold(
            inventory_pb2_grpc.InventoryServiceStub(channel), settings.availability_max_wait_s
        ),
    )
    servicer = PricingServicer(
        PriceBook(price_store, list_store, clock, settings.currency_rules, cache.mark_stale),
        PromotionBook(promotion_store, clock, cache.mark_stale),
        quoter,
        RedemptionBook(RedemptionStore(engine), quoter, clock),
        PriceListBook(list_store, clock, cache.mark_stale),
    )

    async def prune_outbox() -> int:
        """Outbox rows published (or settled) longer ago than PRICING_EVENTS_KEEP_PUBLISHED_S."""
        return await prune_published(
            engine, outbox, published_before=clock() - timedelta(seconds=keep_s)
        )

    background = [
        asyncio.create_task(
            keep_fresh(cache, settings.server.database_url), name="pricing-cache-refresher"
        ),
        asyncio.create_task(
            prune_forever(prune_outbox, settings.retention_interval_s), name="pricing-retention"
        ),
    ]

    async def close_inventory_channel() -> None:
        await channel.close()

    async def stop_background() -> None:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    stops = [stop_background]
    if settings.events.enabled:
        relay = Relay(engine, outbox, settings.events)
        await relay.start()  # at once, broker or not: events wait in the outbox
        stops.append(relay.stop)

    server = GrpcServer(
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
        on_stop=[*stops, close_inventory_channel, engine.dispose, *reads.on_stop],
    )
    return server


def main(argv: list[str] | None = None) -> None:
    settings = PricingSettings.from_env()
    run_service(settings.server, lambda: build_server(settings), MIGRATIONS, argv)
