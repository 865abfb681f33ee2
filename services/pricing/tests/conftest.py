"""Real servers on loopback for the pricing tests: an inventory and a pricing server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stockroom.common.client import Policy, connect
from stockroom.common.db import migrate
from stockroom.common.server import GrpcServer, ServerConfig
from stockroom.common.testing import PATIENT_POLICY, serving
from stockroom.inventory import app as inventory_app
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from stockroom.pricing import app as pricing_app
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    PricingFactory = Callable[..., AbstractAsyncContextManager[pb_grpc.PricingServiceAsyncStub]]


# How long the tests' pricing servers wait for inventory, unless a test says otherwise.
PATIENT_AVAILABILITY_WAIT_S = 60.0


@pytest.fixture
async def inventory_target(tmp_path: Path) -> AsyncIterator[str]:
    """A real inventory server holding 2 MUG and 40 TEE."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}"
    await migrate(inventory_app.MIGRATIONS, url)
    config = ServerConfig(service_name="inventory", port=0, database_url=url)
    async with (
        serving(inventory_app.build_server(inventory_app.InventorySettings(config))) as address,
        connect(address, PATIENT_POLICY) as channel,
    ):
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        await stub.CreateLocation(
            inventory_pb2.CreateLocationRequest(
                location=inventory_pb2.Location(
                    location_id="WH-1", kind=inventory_pb2.LOCATION_KIND_WAREHOUSE
                ),
                request_id=str(uuid.uuid4()),
            )
        )
        for sku, quantity in (("MUG", 2), ("TEE", 40)):
            await stub.CreateItem(
                inventory_pb2.CreateItemRequest(
                    item=inventory_pb2.Item(sku=sku), request_id=str(uuid.uuid4())
                )
            )
            await stub.ReceiveStock(
                inventory_pb2.ReceiveStockRequest(
                    sku=sku, location_id="WH-1", quantity=quantity, request_id=str(uuid.uuid4())
                )
            )
        yield address


def build_pricing(
    database_url: str, inventory_target: str, **settings: Any
) -> Awaitable[GrpcServer]:
    async def build() -> GrpcServer:
        await migrate(pricing_app.MIGRATIONS, database_url)
        server = ServerConfig(service_name="pricing", port=0, database_url=database_url)
        config = pricing_app.PricingSettings(server, inventory_target, **settings)
        return await pricing_app.build_server(config)

    return build()


@asynccontextmanager
async def replicas_of(
    database_url: str, inventory_target: str, policy: Policy, *settings: dict[str, Any]
) -> AsyncIterator[list[pb_grpc.PricingServiceAsyncStub]]:
    """One pricing server per ``settings`` on one database (replicas), each called
    through its own channel with ``policy``."""
    async with AsyncExitStack() as stack:
        stubs = []
        for own in settings:
            server = build_pricing(database_url, inventory_target, **own)
            address = await stack.enter_async_context(serving(server))
            channel = await stack.enter_async_context(connect(address, policy))
            stubs.append(pb_grpc.PricingServiceStub(channel))
        yield stubs


@pytest.fixture
def pricing_for(database_url: str) -> PricingFactory:
    """Starts a pricing server that asks ``inventory_target``, with optional settings,
    and calls it with a deadline only a hung server misses (tests of deadlines set
    their own per call). Pricing waits up to ``PATIENT_AVAILABILITY_WAIT_S`` for
    inventory unless the test says otherwise: the default 1 s is missed by a busy
    machine, and a quote would then report availability UNKNOWN."""

    @asynccontextmanager
    async def start(
        inventory_target: str, **settings: Any
    ) -> AsyncIterator[pb_grpc.PricingServiceAsyncStub]:
        settings.setdefault("availability_max_wait_s", PATIENT_AVAILABILITY_WAIT_S)
        server = build_pricing(database_url, inventory_target, **settings)
        async with serving(server) as address, connect(address, PATIENT_POLICY) as channel:
            yield pb_grpc.PricingServiceStub(channel)

    return start


@pytest.fixture
async def pricing(
    pricing_for: PricingFactory, inventory_target: str
) -> AsyncIterator[pb_grpc.PricingServiceAsyncStub]:
    """A pricing server asking the real inventory server."""
    async with pricing_for(inventory_target) as stub:
        yield stub
