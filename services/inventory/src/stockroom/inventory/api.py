"""The gRPC face of the inventory: proto in, domain call, proto out."""

from __future__ import annotations

from typing import Any

from stockroom.common.errors import FieldErrors
from stockroom.inventory.domain import Line, validate_id, validate_lines
from stockroom.inventory.store import InventoryStore
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc

Context = Any


class InventoryServicer(pb_grpc.InventoryServiceServicer):
    def __init__(self, store: InventoryStore) -> None:
        self.store = store

    async def ReceiveStock(
        self, request: pb.ReceiveStockRequest, context: Context
    ) -> pb.ReceiveStockResponse:
        problems = FieldErrors(domain="inventory.stockroom")
        validate_id(problems, "sku", request.sku)
        validate_id(problems, "location_id", request.location_id)
        if request.quantity <= 0:
            problems.add("quantity", "must be positive", "NOT_POSITIVE")
        problems.raise_if_any()
        on_hand = await self.store.receive(
            request.sku, request.location_id, request.quantity, request.reference
        )
        return pb.ReceiveStockResponse(on_hand=on_hand)

    async def CheckAvailability(
        self, request: pb.CheckAvailabilityRequest, context: Context
    ) -> pb.CheckAvailabilityResponse:
        lines = [Line(line.sku, line.quantity) for line in request.lines]
        validate_lines(lines)
        result = await self.store.availability(lines)
        return pb.CheckAvailabilityResponse(
            lines=[
                pb.LineAvailability(
                    sku=a.sku,
                    requested=a.requested,
                    available=a.available,
                    satisfiable=a.satisfiable,
                )
                for a in result
            ]
        )
