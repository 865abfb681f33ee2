"""Domain values out as proto messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.timestamp_pb2 import Timestamp

from stockroom.common.contract import set_timestamp
from stockroom.common.errors import StockroomError
from stockroom.inventory.domain.model import (
    Allocation,
    Item,
    ItemState,
    LevelChange,
    Location,
    LocationKind,
    Movement,
    MovementKind,
    Reservation,
    ReservationState,
    StockLevel,
)
from stockroom.inventory.domain.supply import (
    Backorder,
    ExpectedReceipt,
    ExpectedReceiptState,
    InventoryPolicy,
    PolicyMode,
)
from stockroom.inventory.domain.verification import LevelAccount
from stockroom.inventory.v1 import inventory_pb2 as pb

_LOCATION_KINDS = {
    LocationKind.WAREHOUSE: pb.LOCATION_KIND_WAREHOUSE,
    LocationKind.STORE: pb.LOCATION_KIND_STORE,
}
_STATES = {
    ReservationState.ACTIVE: pb.RESERVATION_STATE_ACTIVE,
    ReservationState.CONFIRMED: pb.RESERVATION_STATE_CONFIRMED,
    ReservationState.RELEASED: pb.RESERVATION_STATE_RELEASED,
    ReservationState.EXPIRED: pb.RESERVATION_STATE_EXPIRED,
    ReservationState.MIXED: pb.RESERVATION_STATE_MIXED,
}
_ITEM_STATES = {ItemState.ACTIVE: pb.ITEM_STATE_ACTIVE, ItemState.INACTIVE: pb.ITEM_STATE_INACTIVE}
_POLICY_MODES = {
    PolicyMode.REFUSE: pb.INVENTORY_POLICY_MODE_REFUSE,
    PolicyMode.BACKORDER: pb.INVENTORY_POLICY_MODE_BACKORDER,
    PolicyMode.PREORDER: pb.INVENTORY_POLICY_MODE_PREORDER,
}
_RECEIPT_STATES = {
    ExpectedReceiptState.OPEN: pb.EXPECTED_RECEIPT_STATE_OPEN,
    ExpectedReceiptState.RECEIVED: pb.EXPECTED_RECEIPT_STATE_RECEIVED,
    ExpectedReceiptState.CANCELLED: pb.EXPECTED_RECEIPT_STATE_CANCELLED,
}


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    set_timestamp(stamp, value)
    return stamp


def item(value: Item) -> pb.Item:
    return pb.Item(
        sku=value.sku,
        display_name=value.display_name,
        create_time=timestamp(value.create_time),
        state=_ITEM_STATES[value.state],
        deactivation_reason=value.deactivation_reason,
        update_time=timestamp(value.update_time or value.create_time),
        components=[pb.KitComponent(sku=c.sku, quantity=c.quantity) for c in value.components],
    )


def location(value: Location) -> pb.Location:
    return pb.Location(
        location_id=value.location_id,
        display_name=value.display_name,
        kind=_LOCATION_KINDS[value.kind],
        create_time=timestamp(value.create_time),
    )


def level(value: StockLevel) -> pb.StockLevel:
    return pb.StockLevel(
        sku=value.sku,
        location_id=value.location_id,
        on_hand=value.on_hand,
        reserved=value.reserved,
        safety_stock=value.safety_stock,
        available=value.available,
        etag=value.etag,
        damaged=value.damaged,
        quality_control=value.quality_control,
        reorder_point=value.reorder_point,
        backordered=value.backordered,
        incoming=value.incoming,
    )


def sku_stock(sku: str, levels: Sequence[StockLevel]) -> pb.SkuStock:
    return pb.SkuStock(
        sku=sku,
        levels=[level(lv) for lv in levels],
        on_hand=sum(lv.on_hand for lv in levels),
        reserved=sum(lv.reserved for lv in levels),
        available=sum(lv.available for lv in levels),
        damaged=sum(lv.damaged for lv in levels),
        quality_control=sum(lv.quality_control for lv in levels),
        backordered=sum(lv.backordered for lv in levels),
        incoming=sum(lv.incoming for lv in levels),
    )


def kit_stock(sku: str, kits_available: int) -> pb.SkuStock:
    """A kit has no levels: only the number of whole kits its components can make."""
    return pb.SkuStock(sku=sku, available=kits_available, kit=True)


def movement(value: Movement) -> pb.Movement:
    return pb.Movement(
        sequence=value.sequence,
        sku=value.level.sku,
        location_id=value.level.location_id,
        kind=pb.MovementKind.Value(f"MOVEMENT_KIND_{MovementKind(value.kind).value}"),
        on_hand_delta=value.on_hand_delta,
        reserved_delta=value.reserved_delta,
        level=level(value.level),
        reason=value.reason,
        reference=value.reference,
        reservation_id=value.reservation_id,
        request_id=value.request_id,
        create_time=timestamp(value.create_time),
        damaged_delta=value.damaged_delta,
        quality_control_delta=value.quality_control_delta,
        backordered_delta=value.backordered_delta,
        incoming_delta=value.incoming_delta,
        expected_receipt_id=value.expected_receipt_id,
    )


class _HoldsReservation(Protocol):
    @property
    def reservation(self) -> pb.Reservation: ...


AnswerT = TypeVar("AnswerT", bound=_HoldsReservation)


def reservation_answer(answer_type: Callable[[], AnswerT], value: Reservation) -> AnswerT:
    """A response whose ``reservation`` is ``value``, written into it in place."""
    answer = answer_type()
    set_reservation(answer.reservation, value)
    return answer


def set_reservation(message: pb.Reservation, value: Reservation) -> None:
    """Write ``value`` into ``message`` where it lives: each sub-message is written in
    place, never built apart and copied in (every reservation write answers one)."""
    message.reservation_id = value.reservation_id
    message.state = _STATES[value.state]
    message.reference = value.reference
    for line in value.lines:
        out = message.lines.add(
            sku=line.sku,
            quantity=line.quantity,
            held=line.units_held,
            confirmed=line.units_confirmed,
            released=line.units_released,
            expired=line.units_expired,
            backordered=line.backordered,
            preorder=line.preorder,
        )
        for a in line.allocations:
            _add_allocation(out.allocations, a)
        for c in line.components:
            component = out.components.add(
                sku=c.sku,
                quantity=c.quantity,
                held=sum(a.held for a in c.allocations),
                confirmed=sum(a.confirmed for a in c.allocations),
                released=sum(a.released for a in c.allocations),
                expired=sum(a.expired for a in c.allocations),
            )
            for a in c.allocations:
                _add_allocation(component.allocations, a)
        for b in line.backorders:
            _add_backorder(out.backorders, b)
    set_timestamp(message.create_time, value.create_time)
    set_timestamp(message.expire_time, value.expire_time)
    set_timestamp(message.update_time, value.update_time)


def _add_allocation(
    into: RepeatedCompositeFieldContainer[pb.Allocation], value: Allocation
) -> None:
    into.add(
        location_id=value.location_id,
        quantity=value.quantity,
        held=value.held,
        confirmed=value.confirmed,
        released=value.released,
        expired=value.expired,
    )


def mismatch(value: LevelAccount) -> pb.LedgerMismatch:
    return pb.LedgerMismatch(
        sku=value.sku,
        location_id=value.location_id,
        level_on_hand=value.on_hand,
        ledger_on_hand=value.ledger_on_hand,
        level_reserved=value.reserved,
        ledger_reserved=value.ledger_reserved,
        held_by_reservations=value.held_by_reservations,
        level_damaged=value.damaged,
        ledger_damaged=value.ledger_damaged,
        level_quality_control=value.quality_control,
        ledger_quality_control=value.ledger_quality_control,
        level_backordered=value.backordered,
        ledger_backordered=value.ledger_backordered,
        waiting_backorders=value.waiting_backorders,
        level_incoming=value.incoming,
        ledger_incoming=value.ledger_incoming,
        open_incoming=value.open_incoming,
    )


def row_result(
    index: int, request_id: str, change: LevelChange | None, error: StockroomError | None
) -> pb.StockAdjustmentResult:
    """One bulk row's outcome: the level and ledger entry it wrote, or its own error."""
    if change is not None:
        return pb.StockAdjustmentResult(
            index=index,
            request_id=request_id,
            level=level(change.level),
            movement=movement(change.movement),
        )
    assert error is not None
    return pb.StockAdjustmentResult(
        index=index,
        request_id=request_id,
        error_code=error.code,
        error_reason=error.reason,
        error_message=error.message[:1000],
        error_fields=[v.field for v in error.field_violations],
    )


def _add_backorder(into: RepeatedCompositeFieldContainer[pb.Backorder], value: Backorder) -> None:
    into.add(
        location_id=value.location_id,
        quantity=value.quantity,
        filled=value.filled,
        cancelled=value.cancelled,
        outstanding=value.outstanding,
        preorder=value.preorder,
    )


def policy(value: InventoryPolicy) -> pb.InventoryPolicy:
    message = pb.InventoryPolicy(
        sku=value.sku,
        location_id=value.location_id,
        mode=_POLICY_MODES[value.mode],
        backordered=value.backordered,
        etag=value.etag,
        update_time=timestamp(value.update_time),
    )
    if value.backorder_limit is not None:
        message.backorder_limit = value.backorder_limit
    if value.preorder_until is not None:
        message.preorder_until.CopyFrom(timestamp(value.preorder_until))
    return message


def expected_receipt(value: ExpectedReceipt) -> pb.ExpectedReceipt:
    return pb.ExpectedReceipt(
        expected_receipt_id=value.expected_receipt_id,
        sku=value.sku,
        location_id=value.location_id,
        quantity=value.quantity,
        expected_time=timestamp(value.expected_time),
        reference=value.reference,
        received=value.received,
        remaining=value.remaining,
        state=_RECEIPT_STATES[value.state],
        create_time=timestamp(value.create_time),
        update_time=timestamp(value.update_time),
    )
