"""Domain values out as proto messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from stockroom.inventory.domain.model import (
    Allocation,
    Item,
    ItemState,
    Location,
    LocationKind,
    Movement,
    MovementKind,
    Reservation,
    ReservationState,
    StockLevel,
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


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def item(value: Item) -> pb.Item:
    return pb.Item(
        sku=value.sku,
        display_name=value.display_name,
        create_time=timestamp(value.create_time),
        state=_ITEM_STATES[value.state],
        deactivation_reason=value.deactivation_reason,
        update_time=timestamp(value.update_time or value.create_time),
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
    )


def sku_stock(sku: str, levels: Sequence[StockLevel]) -> pb.SkuStock:
    return pb.SkuStock(
        sku=sku,
        levels=[level(lv) for lv in levels],
        on_hand=sum(lv.on_hand for lv in levels),
        reserved=sum(lv.reserved for lv in levels),
        available=sum(lv.available for lv in levels),
    )


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
    )


def reservation(value: Reservation) -> pb.Reservation:
    return pb.Reservation(
        reservation_id=value.reservation_id,
        state=_STATES[value.state],
        lines=[
            pb.ReservationLine(
                sku=line.sku,
                quantity=line.quantity,
                allocations=[allocation(a) for a in line.allocations],
                held=line.held,
                confirmed=line.confirmed,
                released=line.released,
                expired=line.expired,
            )
            for line in value.lines
        ],
        reference=value.reference,
        create_time=timestamp(value.create_time),
        expire_time=timestamp(value.expire_time),
        update_time=timestamp(value.update_time),
    )


def allocation(value: Allocation) -> pb.Allocation:
    return pb.Allocation(
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
    )
