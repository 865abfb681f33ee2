"""The InventoryService servicer: each method converts the request, calls one use case,
converts the result. Errors are domain errors, mapped centrally."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import grpc

from stockroom.common.db import decode_page_token, encode_page_token, page_size, request_key
from stockroom.common.errors import invalid_argument
from stockroom.inventory.api import requests, responses
from stockroom.inventory.domain.model import DOMAIN, LineAvailability
from stockroom.inventory.service.bulk import BulkAdjustments
from stockroom.inventory.service.catalog import CatalogService
from stockroom.inventory.service.history import LedgerHistory
from stockroom.inventory.service.reservations import ReservationService
from stockroom.inventory.service.stock import StockService
from stockroom.inventory.service.supply import SupplyService
from stockroom.inventory.service.verification import DEFAULT_PAGE, MAX_PAGE, LedgerVerification
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc
from stockroom.inventory.watch import LedgerTail, watch_movements


class InventoryServicer(pb_grpc.InventoryServiceServicer):
    def __init__(
        self,
        catalog: CatalogService,
        stock: StockService,
        reservations: ReservationService,
        history: LedgerHistory,
        tail: LedgerTail,
        bulk: BulkAdjustments,
        supply: SupplyService,
        verification: LedgerVerification,
    ) -> None:
        self.catalog = catalog
        self.stock = stock
        self.reservations = reservations
        self.history = history
        self.tail = tail
        self.bulk = bulk
        self.supply = supply
        self.verification = verification

    async def ReceiveStock(
        self,
        request: pb.ReceiveStockRequest,
        context: grpc.aio.ServicerContext[pb.ReceiveStockRequest, pb.ReceiveStockResponse],
    ) -> pb.ReceiveStockResponse:
        receipt = requests.receipt(request)
        change = await self.stock.receive(receipt, request_key("ReceiveStock", request))
        response = pb.ReceiveStockResponse(
            on_hand=change.level.on_hand,
            level=responses.level(change.level),
            movement=responses.movement(change.movement),
            fills=[responses.movement(m) for m in change.fills],
        )
        if change.expected_receipt is not None:
            response.expected_receipt.CopyFrom(responses.expected_receipt(change.expected_receipt))
        return response

    async def CheckAvailability(
        self,
        request: pb.CheckAvailabilityRequest,
        context: grpc.aio.ServicerContext[
            pb.CheckAvailabilityRequest, pb.CheckAvailabilityResponse
        ],
    ) -> pb.CheckAvailabilityResponse:
        lines, location_ids = requests.availability(request)
        result = await self.stock.availability(lines, location_ids)
        return pb.CheckAvailabilityResponse(lines=[_line_availability(a) for a in result])

    async def BatchCheckAvailability(
        self,
        request: pb.BatchCheckAvailabilityRequest,
        context: grpc.aio.ServicerContext[
            pb.BatchCheckAvailabilityRequest, pb.BatchCheckAvailabilityResponse
        ],
    ) -> pb.BatchCheckAvailabilityResponse:
        result = await self.stock.batch_availability(requests.availability_checks(request))
        return pb.BatchCheckAvailabilityResponse(
            responses=[
                pb.CheckAvailabilityResponse(lines=[_line_availability(a) for a in answers])
                for answers in result
            ]
        )

    async def CreateItem(
        self,
        request: pb.CreateItemRequest,
        context: grpc.aio.ServicerContext[pb.CreateItemRequest, pb.CreateItemResponse],
    ) -> pb.CreateItemResponse:
        sku, display_name, components = requests.item(request)
        item = await self.catalog.create_item(
            sku, display_name, request_key("CreateItem", request), components
        )
        return pb.CreateItemResponse(item=responses.item(item))

    async def GetItem(
        self,
        request: pb.GetItemRequest,
        context: grpc.aio.ServicerContext[pb.GetItemRequest, pb.GetItemResponse],
    ) -> pb.GetItemResponse:
        item = await self.catalog.get_item(requests.one_id("sku", request.sku))
        return pb.GetItemResponse(item=responses.item(item))

    async def ListItems(
        self,
        request: pb.ListItemsRequest,
        context: grpc.aio.ServicerContext[pb.ListItemsRequest, pb.ListItemsResponse],
    ) -> pb.ListItemsResponse:
        prefix, state = requests.item_filters(request)
        # A token is bound to the filters it was issued for (the first page's have none).
        filters = (
            {"sku_prefix": prefix, "state": state.value if state else ""} if prefix or state else {}
        )
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, filters, (str,))
        page = await self.catalog.items(
            str(cursor[0]) if cursor else None, size, prefix=prefix, state=state
        )
        return pb.ListItemsResponse(
            items=[responses.item(i) for i in page.items],
            next_page_token=(
                encode_page_token(page.next_cursor, filters) if page.next_cursor else ""
            ),
        )

    async def CreateLocation(
        self,
        request: pb.CreateLocationRequest,
        context: grpc.aio.ServicerContext[pb.CreateLocationRequest, pb.CreateLocationResponse],
    ) -> pb.CreateLocationResponse:
        location_id, display_name, kind = requests.location(request)
        location = await self.catalog.create_location(
            location_id, display_name, kind, request_key("CreateLocation", request)
        )
        return pb.CreateLocationResponse(location=responses.location(location))

    async def GetLocation(
        self,
        request: pb.GetLocationRequest,
        context: grpc.aio.ServicerContext[pb.GetLocationRequest, pb.GetLocationResponse],
    ) -> pb.GetLocationResponse:
        location = await self.catalog.get_location(
            requests.one_id("location_id", request.location_id)
        )
        return pb.GetLocationResponse(location=responses.location(location))

    async def ListLocations(
        self,
        request: pb.ListLocationsRequest,
        context: grpc.aio.ServicerContext[pb.ListLocationsRequest, pb.ListLocationsResponse],
    ) -> pb.ListLocationsResponse:
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, {}, (str,))
        page = await self.catalog.locations(str(cursor[0]) if cursor else None, size)
        return pb.ListLocationsResponse(
            locations=[responses.location(loc) for loc in page.items],
            next_page_token=encode_page_token(page.next_cursor, {}) if page.next_cursor else "",
        )

    async def BatchGetStockLevels(
        self,
        request: pb.BatchGetStockLevelsRequest,
        context: grpc.aio.ServicerContext[
            pb.BatchGetStockLevelsRequest, pb.BatchGetStockLevelsResponse
        ],
    ) -> pb.BatchGetStockLevelsResponse:
        skus = requests.batch_skus(request.skus)
        stock = await self.stock.levels_of(skus)
        return pb.BatchGetStockLevelsResponse(
            skus=[
                responses.kit_stock(sku, stock[sku].kits_available)
                if stock[sku].kit
                else responses.sku_stock(sku, stock[sku].levels)
                for sku in skus
            ]
        )

    async def SetSafetyStock(
        self,
        request: pb.SetSafetyStockRequest,
        context: grpc.aio.ServicerContext[pb.SetSafetyStockRequest, pb.SetSafetyStockResponse],
    ) -> pb.SetSafetyStockResponse:
        change = await self.stock.set_safety_stock(
            requests.safety_stock(request), request_key("SetSafetyStock", request)
        )
        return pb.SetSafetyStockResponse(
            level=responses.level(change.level),
            movement=responses.movement(change.movement),
            fills=[responses.movement(m) for m in change.fills],
        )

    async def AdjustStock(
        self,
        request: pb.AdjustStockRequest,
        context: grpc.aio.ServicerContext[pb.AdjustStockRequest, pb.AdjustStockResponse],
    ) -> pb.AdjustStockResponse:
        change = await self.stock.adjust(
            requests.adjustment(request), request_key("AdjustStock", request)
        )
        return pb.AdjustStockResponse(
            level=responses.level(change.level),
            movement=responses.movement(change.movement),
            fills=[responses.movement(m) for m in change.fills],
        )

    async def TransferStock(
        self,
        request: pb.TransferStockRequest,
        context: grpc.aio.ServicerContext[pb.TransferStockRequest, pb.TransferStockResponse],
    ) -> pb.TransferStockResponse:
        result = await self.stock.transfer(
            requests.transfer(request), request_key("TransferStock", request)
        )
        return pb.TransferStockResponse(
            from_level=responses.level(result.from_level),
            to_level=responses.level(result.to_level),
            movements=[responses.movement(m) for m in result.movements],
            fills=[responses.movement(m) for m in result.fills],
        )

    async def ListMovements(
        self,
        request: pb.ListMovementsRequest,
        context: grpc.aio.ServicerContext[pb.ListMovementsRequest, pb.ListMovementsResponse],
    ) -> pb.ListMovementsResponse:
        requests.movement_filters(request)
        filters = {"sku": request.sku, "location_id": request.location_id}
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, filters, (int,))
        page = await self.history.page(
            sku=request.sku,
            location_id=request.location_id,
            after=int(cursor[0]) if cursor else 0,
            size=size,
        )
        return pb.ListMovementsResponse(
            movements=[responses.movement(m) for m in page.items],
            next_page_token=(
                encode_page_token(page.next_cursor, filters) if page.next_cursor else ""
            ),
        )

    async def ReserveStock(
        self,
        request: pb.ReserveStockRequest,
        context: grpc.aio.ServicerContext[pb.ReserveStockRequest, pb.ReserveStockResponse],
    ) -> pb.ReserveStockResponse:
        reservation = await self.reservations.reserve(
            requests.reservation(request), request_key("ReserveStock", request)
        )
        return responses.reservation_answer(pb.ReserveStockResponse, reservation)

    async def GetReservation(
        self,
        request: pb.GetReservationRequest,
        context: grpc.aio.ServicerContext[pb.GetReservationRequest, pb.GetReservationResponse],
    ) -> pb.GetReservationResponse:
        reservation = await self.reservations.get(requests.reservation_id(request.reservation_id))
        return responses.reservation_answer(pb.GetReservationResponse, reservation)

    async def ConfirmReservation(
        self,
        request: pb.ConfirmReservationRequest,
        context: grpc.aio.ServicerContext[
            pb.ConfirmReservationRequest, pb.ConfirmReservationResponse
        ],
    ) -> pb.ConfirmReservationResponse:
        reservation_id, parts = requests.confirmation(request)
        reservation = await self.reservations.confirm(
            reservation_id, request.reference, request_key("ConfirmReservation", request), parts
        )
        return responses.reservation_answer(pb.ConfirmReservationResponse, reservation)

    async def ReleaseReservation(
        self,
        request: pb.ReleaseReservationRequest,
        context: grpc.aio.ServicerContext[
            pb.ReleaseReservationRequest, pb.ReleaseReservationResponse
        ],
    ) -> pb.ReleaseReservationResponse:
        reservation_id, parts = requests.release(request)
        reservation = await self.reservations.release(
            reservation_id, request.reason, request_key("ReleaseReservation", request), parts
        )
        return responses.reservation_answer(pb.ReleaseReservationResponse, reservation)

    async def WatchStock(
        self,
        request: pb.WatchStockRequest,
        context: grpc.aio.ServicerContext[pb.WatchStockRequest, pb.WatchStockResponse],
    ) -> AsyncIterator[pb.WatchStockResponse]:
        skus, after = requests.watch(request)
        await self.catalog.require_items(skus)
        async for batch in watch_movements(self.tail, self.history, skus, after):
            yield pb.WatchStockResponse(movements=[responses.movement(m) for m in batch])

    async def MoveStock(
        self,
        request: pb.MoveStockRequest,
        context: grpc.aio.ServicerContext[pb.MoveStockRequest, pb.MoveStockResponse],
    ) -> pb.MoveStockResponse:
        change = await self.stock.move_state(
            requests.state_move(request), request_key("MoveStock", request)
        )
        return pb.MoveStockResponse(
            level=responses.level(change.level), movement=responses.movement(change.movement)
        )

    async def SetKitComponents(
        self,
        request: pb.SetKitComponentsRequest,
        context: grpc.aio.ServicerContext[pb.SetKitComponentsRequest, pb.SetKitComponentsResponse],
    ) -> pb.SetKitComponentsResponse:
        sku, components = requests.kit_components(request)
        item = await self.catalog.set_kit_components(
            sku, components, request_key("SetKitComponents", request)
        )
        return pb.SetKitComponentsResponse(item=responses.item(item))

    async def BatchAdjustStock(
        self,
        request: pb.BatchAdjustStockRequest,
        context: grpc.aio.ServicerContext[pb.BatchAdjustStockRequest, pb.BatchAdjustStockResponse],
    ) -> pb.BatchAdjustStockResponse:
        requests.row_count(request.rows)
        outcomes = await self.bulk.apply(requests.stock_rows(request.rows))
        failed = sum(1 for o in outcomes if o.error is not None)
        return pb.BatchAdjustStockResponse(
            results=[
                responses.row_result(o.index, o.request_id, o.change, o.error) for o in outcomes
            ],
            applied=len(outcomes) - failed,
            failed=failed,
        )

    async def ImportStock(
        self,
        request_iterator: AsyncIterator[pb.ImportStockRequest],
        context: grpc.aio.ServicerContext[pb.ImportStockRequest, pb.ImportStockResponse],
    ) -> AsyncIterator[pb.ImportStockResponse]:
        """One message at a time: its rows are applied before the next is read, so memory
        stays one message's worth and the client is held back by flow control."""
        received = applied = failed = 0
        async for batch in request_iterator:
            requests.row_count(batch.rows, allow_empty=True)
            outcomes = await self.bulk.apply(requests.stock_rows(batch.rows, received))
            failures = [o for o in outcomes if o.error is not None]
            received += len(outcomes)
            failed += len(failures)
            applied += len(outcomes) - len(failures)
            yield pb.ImportStockResponse(
                received=received,
                applied=applied,
                failed=failed,
                failures=[
                    responses.row_result(o.index, o.request_id, o.change, o.error) for o in failures
                ],
            )

    async def SetReorderPoint(
        self,
        request: pb.SetReorderPointRequest,
        context: grpc.aio.ServicerContext[pb.SetReorderPointRequest, pb.SetReorderPointResponse],
    ) -> pb.SetReorderPointResponse:
        change = await self.stock.set_reorder_point(
            requests.reorder_point(request), request_key("SetReorderPoint", request)
        )
        return pb.SetReorderPointResponse(
            level=responses.level(change.level), movement=responses.movement(change.movement)
        )

    async def SetInventoryPolicy(
        self,
        request: pb.SetInventoryPolicyRequest,
        context: grpc.aio.ServicerContext[
            pb.SetInventoryPolicyRequest, pb.SetInventoryPolicyResponse
        ],
    ) -> pb.SetInventoryPolicyResponse:
        policy = await self.supply.set_policy(
            requests.policy(request), request_key("SetInventoryPolicy", request)
        )
        return pb.SetInventoryPolicyResponse(policy=responses.policy(policy))

    async def ListInventoryPolicies(
        self,
        request: pb.ListInventoryPoliciesRequest,
        context: grpc.aio.ServicerContext[
            pb.ListInventoryPoliciesRequest, pb.ListInventoryPoliciesResponse
        ],
    ) -> pb.ListInventoryPoliciesResponse:
        requests.policy_filter(request)
        filters = {"sku": request.sku}
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, filters, (str, str))
        page = await self.supply.policies(
            request.sku, (str(cursor[0]), str(cursor[1])) if cursor else None, size
        )
        return pb.ListInventoryPoliciesResponse(
            policies=[responses.policy(p) for p in page.items],
            next_page_token=(
                encode_page_token(page.next_cursor, filters) if page.next_cursor else ""
            ),
        )

    async def CreateExpectedReceipt(
        self,
        request: pb.CreateExpectedReceiptRequest,
        context: grpc.aio.ServicerContext[
            pb.CreateExpectedReceiptRequest, pb.CreateExpectedReceiptResponse
        ],
    ) -> pb.CreateExpectedReceiptResponse:
        change = await self.supply.create_expected(
            requests.expected_receipt(request), request_key("CreateExpectedReceipt", request)
        )
        assert change.movement is not None
        return pb.CreateExpectedReceiptResponse(
            expected_receipt=responses.expected_receipt(change.expected_receipt),
            level=responses.level(change.level),
            movement=responses.movement(change.movement),
        )

    async def ListExpectedReceipts(
        self,
        request: pb.ListExpectedReceiptsRequest,
        context: grpc.aio.ServicerContext[
            pb.ListExpectedReceiptsRequest, pb.ListExpectedReceiptsResponse
        ],
    ) -> pb.ListExpectedReceiptsResponse:
        requests.expected_receipt_filters(request)
        filters = {
            "sku": request.sku,
            "location_id": request.location_id,
            "include_closed": request.include_closed,
        }
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, filters, (int, str))
        page = await self.supply.expected(
            sku=request.sku,
            location_id=request.location_id,
            include_closed=request.include_closed,
            after=(int(cursor[0]), str(cursor[1])) if cursor else None,
            size=size,
        )
        return pb.ListExpectedReceiptsResponse(
            expected_receipts=[responses.expected_receipt(e) for e in page.items],
            next_page_token=(
                encode_page_token(page.next_cursor, filters) if page.next_cursor else ""
            ),
        )

    async def CancelExpectedReceipt(
        self,
        request: pb.CancelExpectedReceiptRequest,
        context: grpc.aio.ServicerContext[
            pb.CancelExpectedReceiptRequest, pb.CancelExpectedReceiptResponse
        ],
    ) -> pb.CancelExpectedReceiptResponse:
        change = await self.supply.cancel_expected(
            requests.cancel_expected_receipt(request),
            request_key("CancelExpectedReceipt", request),
        )
        response = pb.CancelExpectedReceiptResponse(
            expected_receipt=responses.expected_receipt(change.expected_receipt),
            level=responses.level(change.level),
        )
        if change.movement is not None:
            response.movement.CopyFrom(responses.movement(change.movement))
        return response

    async def ExtendReservation(
        self,
        request: pb.ExtendReservationRequest,
        context: grpc.aio.ServicerContext[
            pb.ExtendReservationRequest, pb.ExtendReservationResponse
        ],
    ) -> pb.ExtendReservationResponse:
        reservation_id, expire_time, ttl = requests.extension(request)
        reservation = await self.reservations.extend(
            reservation_id,
            request_key("ExtendReservation", request),
            expire_time=expire_time,
            ttl=ttl,
        )
        return responses.reservation_answer(pb.ExtendReservationResponse, reservation)

    async def ListReservations(
        self,
        request: pb.ListReservationsRequest,
        context: grpc.aio.ServicerContext[pb.ListReservationsRequest, pb.ListReservationsResponse],
    ) -> pb.ListReservationsResponse:
        state = requests.reservation_filters(request)
        filters = {"reference": request.reference, "state": state.value if state else ""}
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, filters, (str, str))
        page = await self.reservations.listing(
            reference=request.reference,
            state=state,
            after=_reservation_cursor(cursor),
            size=size,
        )
        response = pb.ListReservationsResponse(
            next_page_token=(
                encode_page_token(page.next_cursor, filters) if page.next_cursor else ""
            ),
        )
        for reservation in page.items:
            responses.set_reservation(response.reservations.add(), reservation)
        return response

    async def RenameItem(
        self,
        request: pb.RenameItemRequest,
        context: grpc.aio.ServicerContext[pb.RenameItemRequest, pb.RenameItemResponse],
    ) -> pb.RenameItemResponse:
        sku, display_name = requests.rename(request)
        item = await self.catalog.rename_item(sku, display_name, request_key("RenameItem", request))
        return pb.RenameItemResponse(item=responses.item(item))

    async def DeactivateItem(
        self,
        request: pb.DeactivateItemRequest,
        context: grpc.aio.ServicerContext[pb.DeactivateItemRequest, pb.DeactivateItemResponse],
    ) -> pb.DeactivateItemResponse:
        sku, reason = requests.deactivation(request)
        item = await self.catalog.deactivate_item(
            sku, reason, request_key("DeactivateItem", request)
        )
        return pb.DeactivateItemResponse(item=responses.item(item))

    async def ReactivateItem(
        self,
        request: pb.ReactivateItemRequest,
        context: grpc.aio.ServicerContext[pb.ReactivateItemRequest, pb.ReactivateItemResponse],
    ) -> pb.ReactivateItemResponse:
        sku = requests.reactivation(request)
        item = await self.catalog.reactivate_item(sku, request_key("ReactivateItem", request))
        return pb.ReactivateItemResponse(item=responses.item(item))

    async def VerifyLedger(
        self,
        request: pb.VerifyLedgerRequest,
        context: grpc.aio.ServicerContext[pb.VerifyLedgerRequest, pb.VerifyLedgerResponse],
    ) -> pb.VerifyLedgerResponse:
        size = page_size(request.page_size, default=DEFAULT_PAGE, maximum=MAX_PAGE)
        cursor = decode_page_token(request.page_token, {}, (str, str))
        page = await self.verification.page(
            (str(cursor[0]), str(cursor[1])) if cursor else None, size
        )
        return pb.VerifyLedgerResponse(
            mismatches=[responses.mismatch(m) for m in page.mismatches],
            levels_checked=page.checked,
            next_page_token=(encode_page_token(page.next_cursor, {}) if page.next_cursor else ""),
        )


def _line_availability(value: LineAvailability) -> pb.LineAvailability:
    line = pb.LineAvailability(
        sku=value.sku,
        requested=value.requested,
        available=value.available,
        satisfiable=value.satisfiable,
        backorderable=value.backorderable,
        preorderable=value.preorderable,
        incoming=value.incoming,
    )
    if value.available_time is not None:
        line.available_time.CopyFrom(responses.timestamp(value.available_time))
    return line


def _reservation_cursor(cursor: tuple[str | int, ...] | None) -> tuple[datetime, str] | None:
    """ListReservations' cursor (create time, id); a token that does not hold one is refused."""
    if cursor is None:
        return None
    try:
        create_time = datetime.fromisoformat(str(cursor[0]))
    except ValueError:
        create_time = None
    if create_time is None or create_time.tzinfo is None:
        raise invalid_argument(
            "page_token",
            "is not a page token this service issued",
            reason="INVALID_PAGE_TOKEN",
            domain=DOMAIN,
        )
    return create_time, str(cursor[1])
