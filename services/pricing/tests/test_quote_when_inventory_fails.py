"""A quote never fails because inventory is slow, down or refusing: it arrives within
the caller's deadline with availability UNKNOWN and the reason. Real gRPC servers on
loopback play a missing, a slow and a failing inventory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from google.type import money_pb2

from stockroom.common.errors import (
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    StockroomError,
    Unavailable,
)
from stockroom.common.server import GrpcServer, ServerConfig, ServiceRegistration
from stockroom.common.testing import serving
from stockroom.inventory.v1 import inventory_pb2
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

INVENTORY_SERVICE = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name
CART = pb.QuoteRequest(currency_code="USD", lines=[pb.CartLine(sku="MUG", quantity=2)])


class FakeInventory:
    """Inventory's CheckAvailability, answering after ``delay_s`` or failing with ``error``.

    Served as a generic handler on inventory's own method path, so it stays a
    faithful stand-in however many other methods InventoryService grows.
    """

    def __init__(
        self, delay_s: float = 0.0, error: StockroomError | None = None, failures: int = -1
    ) -> None:
        self.delay_s = delay_s
        self.error = error
        self.failures = failures  # how many calls ``error`` fails; -1 means all of them
        self.calls = 0
        self.time_remaining: list[float | None] = []  # each call's deadline, as it arrived

    async def CheckAvailability(
        self,
        request: inventory_pb2.CheckAvailabilityRequest,
        context: grpc.aio.ServicerContext[
            inventory_pb2.CheckAvailabilityRequest, inventory_pb2.CheckAvailabilityResponse
        ],
    ) -> inventory_pb2.CheckAvailabilityResponse:
        self.calls += 1
        self.time_remaining.append(context.time_remaining())
        await asyncio.sleep(self.delay_s)
        if self.error is not None and (self.failures < 0 or self.calls <= self.failures):
            raise self.error
        return inventory_pb2.CheckAvailabilityResponse(
            lines=[
                inventory_pb2.LineAvailability(
                    sku=line.sku, requested=line.quantity, available=100, satisfiable=True
                )
                for line in request.lines
            ]
        )


def add_check_availability(fake: FakeInventory, server: grpc.aio.Server) -> None:
    handler = grpc.unary_unary_rpc_method_handler(
        fake.CheckAvailability,
        request_deserializer=inventory_pb2.CheckAvailabilityRequest.FromString,
        response_serializer=inventory_pb2.CheckAvailabilityResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(INVENTORY_SERVICE, {"CheckAvailability": handler}),)
    )


@asynccontextmanager
async def inventory(fake: FakeInventory) -> AsyncIterator[str]:
    server = GrpcServer(
        ServerConfig(service_name="inventory", port=0),
        [ServiceRegistration(INVENTORY_SERVICE, lambda s: add_check_availability(fake, s))],
    )
    async with serving(server) as address:
        yield address


@asynccontextmanager
async def priced_mug(
    pricing_for: Callable[..., Any], target: str, **settings: float
) -> AsyncIterator[pb_grpc.PricingServiceAsyncStub]:
    async with pricing_for(target, **settings) as stub:
        price = money_pb2.Money(currency_code="USD", units=12, nanos=500_000_000)
        await stub.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=price))
        yield stub


async def test_a_quote_without_inventory_still_prices_within_the_deadline(
    pricing_for: Callable[..., Any], unused_tcp_port: int
) -> None:
    async with priced_mug(pricing_for, f"127.0.0.1:{unused_tcp_port}") as pricing:
        quote = await pricing.Quote(CART)

    assert quote.total.units == 25
    assert quote.lines[0].availability == pb.AVAILABILITY_UNKNOWN
    assert quote.availability_reason == "UNAVAILABLE"
    assert "UNAVAILABLE" in quote.availability_note


async def test_a_slow_inventory_is_cut_off_by_the_callers_deadline(
    pricing_for: Callable[..., Any],
) -> None:
    slow = FakeInventory(delay_s=120.0)
    async with (
        inventory(slow) as target,
        # Pricing would wait 60 s on its own: only the caller's deadline can cut it short.
        priced_mug(pricing_for, target, availability_max_wait_s=60.0) as pricing,
    ):
        # Quote raises DEADLINE_EXCEEDED if the answer misses the caller's deadline: 6 s,
        # which a busy machine's pricing work fits in (1 s did not always, through PgBouncer).
        quote = await pricing.Quote(CART, timeout=6.0)

    assert slow.calls == 1
    [remaining] = slow.time_remaining
    assert remaining is not None
    assert remaining <= 6.0  # the caller's deadline, not pricing's 60 s
    assert quote.total.units == 25
    assert quote.lines[0].availability == pb.AVAILABILITY_UNKNOWN
    assert quote.availability_reason == "DEADLINE_EXCEEDED"


async def test_inventory_is_given_the_whole_configured_wait_beyond_the_clients_default(
    pricing_for: Callable[..., Any],
) -> None:
    """PRICING_AVAILABILITY_MAX_WAIT_S is the bound, not the common client's 2 s default."""
    fake = FakeInventory()
    async with (
        inventory(fake) as target,
        priced_mug(pricing_for, target, availability_max_wait_s=60.0) as pricing,
    ):
        quote = await pricing.Quote(CART)  # the test client's deadline: 120 s

    assert quote.lines[0].availability == pb.AVAILABILITY_IN_STOCK
    [remaining] = fake.time_remaining
    # About 60 s less the time to get there; 2 s if the channel's default still capped it.
    assert remaining is not None
    assert 30.0 < remaining <= 60.0


async def test_without_a_caller_deadline_pricing_waits_its_configured_time(
    pricing_for: Callable[..., Any],
) -> None:
    slow = FakeInventory(delay_s=30.0)
    async with (
        inventory(slow) as target,
        priced_mug(pricing_for, target, availability_max_wait_s=0.3) as pricing,
    ):
        quote = await pricing.Quote(CART)

    assert quote.lines[0].availability == pb.AVAILABILITY_UNKNOWN
    assert quote.availability_reason == "DEADLINE_EXCEEDED"


async def test_a_deadline_too_short_for_inventory_skips_asking_it(
    pricing_for: Callable[..., Any],
) -> None:
    fake = FakeInventory()
    async with (
        inventory(fake) as target,
        priced_mug(pricing_for, target, availability_reserve_s=60.0) as pricing,
    ):
        quote = await pricing.Quote(CART, timeout=30.0)

    assert fake.calls == 0
    assert quote.availability_reason == "DEADLINE_TOO_SHORT"
    assert quote.lines[0].availability == pb.AVAILABILITY_UNKNOWN


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (Unavailable("breaker open", reason="CIRCUIT_OPEN"), "CIRCUIT_OPEN"),
        (Unavailable("inventory is draining"), "UNAVAILABLE"),
        (ResourceExhausted("shedding load", retry_after_s=1.0), "RESOURCE_EXHAUSTED"),
    ],
)
async def test_inventory_failures_leave_availability_unknown_with_the_reason(
    pricing_for: Callable[..., Any], error: StockroomError, reason: str
) -> None:
    async with (
        inventory(FakeInventory(error=error)) as target,
        priced_mug(pricing_for, target) as pricing,
    ):
        quote = await pricing.Quote(CART)

    assert quote.availability_reason == reason
    assert quote.lines[0].availability == pb.AVAILABILITY_UNKNOWN
    assert quote.total.units == 25


async def test_a_cart_inventory_rejects_is_the_callers_error_not_unknown(
    pricing_for: Callable[..., Any],
) -> None:
    rejection = InvalidArgument(
        "bad sku",
        reason="INVALID_REQUEST",
        field_violations=[FieldViolation("lines[0].sku", "not a SKU we know how to read")],
    )
    async with (
        inventory(FakeInventory(error=rejection)) as target,
        priced_mug(pricing_for, target) as pricing,
    ):
        with pytest.raises(InvalidArgument) as raised:
            await pricing.Quote(CART)

    assert raised.value.reason == "INVENTORY_REJECTED_CART"
    assert raised.value.metadata["inventory_reason"] == "INVALID_REQUEST"
    assert [v.field for v in raised.value.field_violations] == ["lines[0].sku"]


async def test_a_healthy_inventory_answers_inside_the_quote(
    pricing_for: Callable[..., Any],
) -> None:
    async with (
        inventory(FakeInventory(delay_s=0.05)) as target,
        priced_mug(pricing_for, target) as pricing,
    ):
        quote = await pricing.Quote(CART)

    assert quote.lines[0].availability == pb.AVAILABILITY_IN_STOCK
    assert quote.lines[0].available_quantity == 100
    assert quote.availability_reason == ""


async def test_a_passing_inventory_outage_is_retried_inside_the_quote(
    pricing_for: Callable[..., Any],
) -> None:
    flaky = FakeInventory(error=Unavailable("restarting"), failures=1)
    async with inventory(flaky) as target, priced_mug(pricing_for, target) as pricing:
        quote = await pricing.Quote(CART)

    assert flaky.calls == 2
    assert quote.lines[0].availability == pb.AVAILABILITY_IN_STOCK
    assert quote.availability_reason == ""


async def test_an_inventory_without_batch_checks_still_answers_quotes_made_together(
    pricing_for: Callable[..., Any],
) -> None:
    """Quotes that come while two checks are on their way are gathered into one
    BatchCheckAvailability; an inventory from before it (UNIMPLEMENTED, as during a
    rolling upgrade) gets each of them alone instead, and every quote has its answer."""
    slow = FakeInventory(delay_s=0.2)  # slow enough that the quotes overlap
    # Waiting up to 20 s for inventory: the quotes that fall back to asking alone take turns
    # behind the 0.2 s calls, longer than the default 1 s on a loaded machine.
    async with (
        inventory(slow) as target,
        priced_mug(pricing_for, target, availability_max_wait_s=20.0) as pricing,
    ):
        # One quote first, so the six below find the prices and database connections
        # warm: six cold connections at once through PgBouncer on a loaded machine can
        # outlast the engine's connect timeout, which is not what this test is about.
        await pricing.Quote(CART, timeout=30.0)
        quotes = await asyncio.gather(*(pricing.Quote(CART, timeout=30.0) for _ in range(6)))

    assert [q.lines[0].availability for q in quotes] == [pb.AVAILABILITY_IN_STOCK] * 6
    assert {q.availability_reason for q in quotes} == {""}
    assert slow.calls == 7
