"""Test helpers for the inventory: a real server on loopback, a clock the test moves.

Used by this package's tests and by cross-package tests that need an
inventory to talk to.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.duration_pb2 import Duration

from stockroom.common.client import Policy, RetryPolicy, connect
from stockroom.common.events import EventsConfig
from stockroom.common.server import ServerConfig
from stockroom.common.testing import ManualClock, serving
from stockroom.inventory.app import InventorySettings, build_server
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc

__all__ = ["FAST_JOBS", "Inventory", "ManualClock", "request_id", "running_inventory"]

# Background jobs run often in tests so waiting for them stays short.
FAST_JOBS: dict[str, Any] = {"sweep_interval_s": 0.02, "watch_poll_interval_s": 0.02}


def request_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Inventory:
    """The stub of a running server, with shortcuts for arranging stock."""

    stub: pb_grpc.InventoryServiceAsyncStub
    clock: ManualClock

    async def register(self, skus: list[str], locations: list[str]) -> None:
        for sku in skus:
            await self.stub.CreateItem(
                pb.CreateItemRequest(item=pb.Item(sku=sku), request_id=request_id())
            )
        for location_id in locations:
            await self.stub.CreateLocation(
                pb.CreateLocationRequest(
                    location=pb.Location(location_id=location_id, kind=pb.LOCATION_KIND_WAREHOUSE),
                    request_id=request_id(),
                )
            )

    async def receive(self, sku: str, location_id: str, quantity: int) -> pb.ReceiveStockResponse:
        return await self.stub.ReceiveStock(
            pb.ReceiveStockRequest(
                sku=sku, location_id=location_id, quantity=quantity, request_id=request_id()
            )
        )

    async def reserve(
        self, lines: dict[str, int], *, ttl_s: int = 900, location_ids: tuple[str, ...] = ()
    ) -> pb.Reservation:
        response = await self.stub.ReserveStock(
            pb.ReserveStockRequest(
                lines=[pb.ReserveStockLine(sku=s, quantity=q) for s, q in lines.items()],
                ttl=Duration(seconds=ttl_s),
                location_ids=location_ids,
                request_id=request_id(),
            )
        )
        return response.reservation

    async def set_policy(
        self,
        sku: str,
        mode: pb.InventoryPolicyMode.ValueType,
        *,
        location_id: str = "",
        limit: int | None = None,
        until: datetime | None = None,
    ) -> pb.InventoryPolicy:
        policy = pb.InventoryPolicy(sku=sku, location_id=location_id, mode=mode)
        if limit is not None:
            policy.backorder_limit = limit
        if until is not None:
            policy.preorder_until.FromDatetime(until)
        response = await self.stub.SetInventoryPolicy(
            pb.SetInventoryPolicyRequest(policy=policy, request_id=request_id())
        )
        return response.policy

    async def expect(
        self, expected_receipt_id: str, sku: str, location_id: str, quantity: int, at: datetime
    ) -> pb.CreateExpectedReceiptResponse:
        receipt = pb.ExpectedReceipt(
            expected_receipt_id=expected_receipt_id,
            sku=sku,
            location_id=location_id,
            quantity=quantity,
        )
        receipt.expected_time.FromDatetime(at)
        return await self.stub.CreateExpectedReceipt(
            pb.CreateExpectedReceiptRequest(expected_receipt=receipt, request_id=request_id())
        )

    async def level(self, sku: str, location_id: str) -> pb.StockLevel:
        response = await self.stub.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=[sku]))
        return next(lv for lv in response.skus[0].levels if lv.location_id == location_id)


# These tests prove what the server does under load, not the client's resilience:
# a burst of hundreds of calls on a busy 2-core machine can outlast the default 2 s
# deadline, and the breaker would then turn the rest of the burst into fast failures.
# An overloaded server may answer UNAVAILABLE (its pool or the pooler's queue was too
# slow); a write retried with its request id gets its first answer, so the client keeps
# retrying instead of letting a transient overload fail the test (retry budget unbounded).
TEST_CLIENT_POLICY = Policy(
    timeout_s=60.0,
    breaker=None,
    retry=RetryPolicy(max_attempts=8, max_backoff_s=2.0, budget_max_tokens=1e9),
)


@asynccontextmanager
async def running_inventory(
    database_url: str, clock: ManualClock, events: EventsConfig | None = None
) -> AsyncIterator[Inventory]:
    """A server on a migrated database at ``database_url``, and a client for it
    (publishing events as ``events`` says, if given)."""
    config = ServerConfig(service_name="inventory", port=0, database_url=database_url)
    settings = InventorySettings(config, **FAST_JOBS)
    if events is not None:
        settings = dataclasses.replace(settings, events=events)
    async with (
        serving(build_server(settings, clock)) as address,
        connect(address, TEST_CLIENT_POLICY) as channel,
    ):
        yield Inventory(pb_grpc.InventoryServiceStub(channel), clock)
