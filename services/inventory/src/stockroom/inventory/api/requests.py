"""Requests in: check every field, report every problem at once, build the domain command.

Identifier rules and the limits pricing shares (SKU and location id shape,
quantity range, lines per call) come from ``stockroom.common.contract``.

Each function takes a proto request and returns what the store takes, or
raises InvalidArgument with one field violation per bad field (field paths
as in the proto, e.g. ``lines[2].quantity``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from stockroom.common.contract import (
    MAX_AVAILABILITY_CHECKS,
    MAX_AVAILABILITY_LINES,
    MAX_BATCH_AVAILABILITY_LINES,
    MAX_RESERVATION_LINES,
    check_id,
    check_quantity,
)
from stockroom.common.db import request_key, validate_request_id
from stockroom.common.errors import FieldErrors, InvalidArgument
from stockroom.inventory.domain import kits, stock_states
from stockroom.inventory.domain.lifecycle import MAX_TTL, MIN_TTL
from stockroom.inventory.domain.model import (
    DOMAIN,
    Adjustment,
    AvailabilityCheck,
    ItemState,
    KitComponent,
    Line,
    LocationKind,
    PartialLine,
    Receipt,
    ReorderPointChange,
    ReservationRequest,
    ReservationState,
    SafetyStockChange,
    StateMove,
    StockDelta,
    StockState,
    Transfer,
)
from stockroom.inventory.domain.supply import (
    CancelExpectedReceipt,
    CreateExpectedReceipt,
    PolicyMode,
    SetPolicy,
)
from stockroom.inventory.service.bulk import MAX_ROWS, Row
from stockroom.inventory.v1 import inventory_pb2 as pb

MAX_BATCH_SKUS = 500
MAX_WATCH_SKUS = 100
MAX_LOCATION_FILTER = 100
MAX_TEXT = 256
DEFAULT_TTL = timedelta(minutes=15)

_LOCATION_KINDS = {
    pb.LOCATION_KIND_WAREHOUSE: LocationKind.WAREHOUSE,
    pb.LOCATION_KIND_STORE: LocationKind.STORE,
}
ITEM_STATES = {pb.ITEM_STATE_ACTIVE: ItemState.ACTIVE, pb.ITEM_STATE_INACTIVE: ItemState.INACTIVE}
RESERVATION_STATES = {
    pb.RESERVATION_STATE_ACTIVE: ReservationState.ACTIVE,
    pb.RESERVATION_STATE_CONFIRMED: ReservationState.CONFIRMED,
    pb.RESERVATION_STATE_RELEASED: ReservationState.RELEASED,
    pb.RESERVATION_STATE_EXPIRED: ReservationState.EXPIRED,
    pb.RESERVATION_STATE_MIXED: ReservationState.MIXED,
}
_POLICY_MODES = {
    pb.INVENTORY_POLICY_MODE_REFUSE: PolicyMode.REFUSE,
    pb.INVENTORY_POLICY_MODE_BACKORDER: PolicyMode.BACKORDER,
    pb.INVENTORY_POLICY_MODE_PREORDER: PolicyMode.PREORDER,
}
# What a Timestamp may hold (google/protobuf/timestamp.proto): years 1 to 9999.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799
MAX_ETAG = 32


_STOCK_STATES = {
    pb.STOCK_STATE_SELLABLE: StockState.SELLABLE,
    pb.STOCK_STATE_DAMAGED: StockState.DAMAGED,
    pb.STOCK_STATE_QUALITY_CONTROL: StockState.QUALITY_CONTROL,
    pb.STOCK_STATE_WRITTEN_OFF: StockState.WRITTEN_OFF,
}
# The request-key method of a bulk row: the same for BatchAdjustStock and ImportStock, so a
# row sent again through either is answered from its record.
STOCK_ROW_METHOD = "StockAdjustmentRow"


def problems() -> FieldErrors:
    return FieldErrors(domain=DOMAIN)


def check_ids(errors: FieldErrors, field: str, values: Sequence[str], limit: int) -> None:
    if len(values) > limit:
        errors.add(field, f"at most {limit} per request", "TOO_MANY")
    for i, value in enumerate(values[:limit]):
        check_id(errors, f"{field}[{i}]", value)
    if len(set(values)) != len(values):
        errors.add(field, "must not repeat an id", "DUPLICATE")


def check_text(errors: FieldErrors, field: str, value: str, *, required: bool = False) -> None:
    if required and not value.strip():
        errors.add(field, "is required", "REQUIRED")
    elif len(value) > MAX_TEXT:
        errors.add(field, f"must be at most {MAX_TEXT} characters", "TOO_LONG")
    elif not value.isprintable():
        errors.add(field, "must be printable text", "MALFORMED")


def check_reservation_id(errors: FieldErrors, field: str, value: str) -> None:
    if not value:
        errors.add(field, "is required", "REQUIRED")
        return
    try:
        valid = str(uuid.UUID(value)) == value.lower()
    except ValueError:
        valid = False
    if not valid:
        errors.add(field, "must be a reservation id (a UUID)", "MALFORMED")


def availability_lines(request: pb.CheckAvailabilityRequest) -> list[Line]:
    """The lines to check (the whole request is checked, location filter included)."""
    return availability(request)[0]


def availability(request: pb.CheckAvailabilityRequest) -> tuple[list[Line], tuple[str, ...]]:
    """The lines to check and the locations to count (none: every location)."""
    errors = problems()
    _check_availability(errors, "", request)
    errors.raise_if_any()
    return [Line(line.sku, line.quantity) for line in request.lines], tuple(request.location_ids)


def availability_checks(request: pb.BatchCheckAvailabilityRequest) -> list[AvailabilityCheck]:
    """The checks of a BatchCheckAvailability, all or nothing: each request is checked as
    CheckAvailability checks it alone (fields named ``requests[i].lines[j].sku`` ...), and
    the call holds 1 to MAX_AVAILABILITY_CHECKS requests and at most
    MAX_BATCH_AVAILABILITY_LINES lines in all.

    Every request's violations are reported. The work stays bounded whatever the call
    holds, as in each request's own rules (only the first MAX_AVAILABILITY_LINES lines of
    a request are checked): the lines checked in all stop at MAX_BATCH_AVAILABILITY_LINES,
    which a call only passes when it is refused as TOO_MANY anyway. The error on the wire
    lists the first violations and how many more there are (``stockroom.common.errors``).
    """
    errors = problems()
    given = request.requests
    if not given:
        errors.add("requests", "at least one request is required", "EMPTY")
    if len(given) > MAX_AVAILABILITY_CHECKS:
        errors.add("requests", f"at most {MAX_AVAILABILITY_CHECKS} requests per call", "TOO_MANY")
    if sum(len(one.lines) for one in given) > MAX_BATCH_AVAILABILITY_LINES:
        errors.add(
            "requests",
            f"at most {MAX_BATCH_AVAILABILITY_LINES} lines in all requests together",
            "TOO_MANY",
        )
    budget = MAX_BATCH_AVAILABILITY_LINES
    for i, one in enumerate(given[:MAX_AVAILABILITY_CHECKS]):
        _check_availability(errors, f"requests[{i}].", one, budget)
        budget = max(0, budget - min(len(one.lines), MAX_AVAILABILITY_LINES))
    errors.raise_if_any()
    return [
        AvailabilityCheck(
            tuple(Line(line.sku, line.quantity) for line in one.lines), tuple(one.location_ids)
        )
        for one in given
    ]


def _check_availability(
    errors: FieldErrors,
    prefix: str,
    request: pb.CheckAvailabilityRequest,
    line_budget: int = MAX_AVAILABILITY_LINES,
) -> None:
    """CheckAvailability's rules for one request, its violations added to ``errors`` with
    fields named after ``prefix``; at most ``line_budget`` of its lines are checked (never
    more than MAX_AVAILABILITY_LINES)."""
    if not request.lines:
        errors.add(f"{prefix}lines", "at least one line is required", "EMPTY")
    if len(request.lines) > MAX_AVAILABILITY_LINES:
        errors.add(
            f"{prefix}lines", f"at most {MAX_AVAILABILITY_LINES} lines per request", "TOO_MANY"
        )
    for i, line in enumerate(request.lines[: min(MAX_AVAILABILITY_LINES, line_budget)]):
        check_id(errors, f"{prefix}lines[{i}].sku", line.sku)
        check_quantity(errors, f"{prefix}lines[{i}].quantity", line.quantity)
    check_ids(errors, f"{prefix}location_ids", list(request.location_ids), MAX_LOCATION_FILTER)


def receipt(request: pb.ReceiveStockRequest) -> Receipt:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "sku", request.sku)
    check_id(errors, "location_id", request.location_id)
    check_quantity(errors, "quantity", request.quantity)
    check_text(errors, "reason", request.reason)
    check_text(errors, "reference", request.reference)
    if request.expected_receipt_id:
        check_id(errors, "expected_receipt_id", request.expected_receipt_id)
    errors.raise_if_any()
    return Receipt(
        request.sku,
        request.location_id,
        request.quantity,
        request.reason,
        request.reference,
        request.expected_receipt_id,
    )


def adjustment(request: pb.AdjustStockRequest) -> Adjustment:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "sku", request.sku)
    check_id(errors, "location_id", request.location_id)
    check_quantity(errors, "on_hand", request.on_hand, allow_zero=True)
    expected = request.expected_on_hand if request.HasField("expected_on_hand") else None
    if expected is not None:
        check_quantity(errors, "expected_on_hand", expected, allow_zero=True)
    check_text(errors, "reason", request.reason, required=True)
    check_text(errors, "reference", request.reference)
    errors.raise_if_any()
    return Adjustment(
        request.sku,
        request.location_id,
        request.on_hand,
        expected,
        request.reason,
        request.reference,
    )


def transfer(request: pb.TransferStockRequest) -> Transfer:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "sku", request.sku)
    check_id(errors, "from_location_id", request.from_location_id)
    check_id(errors, "to_location_id", request.to_location_id)
    if request.from_location_id and request.from_location_id == request.to_location_id:
        errors.add("to_location_id", "must differ from from_location_id", "SAME_LOCATION")
    check_quantity(errors, "quantity", request.quantity)
    check_text(errors, "reason", request.reason)
    check_text(errors, "reference", request.reference)
    errors.raise_if_any()
    return Transfer(
        request.sku,
        request.from_location_id,
        request.to_location_id,
        request.quantity,
        request.reason,
        request.reference,
    )


def safety_stock(request: pb.SetSafetyStockRequest) -> SafetyStockChange:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "sku", request.sku)
    check_id(errors, "location_id", request.location_id)
    check_quantity(errors, "safety_stock", request.safety_stock, allow_zero=True)
    errors.raise_if_any()
    return SafetyStockChange(
        request.sku, request.location_id, request.safety_stock, request.etag or None
    )


def reservation(request: pb.ReserveStockRequest) -> ReservationRequest:
    errors = problems()
    validate_request_id(errors, request.request_id)
    if not request.lines:
        errors.add("lines", "at least one line is required", "EMPTY")
    if len(request.lines) > MAX_RESERVATION_LINES:
        errors.add("lines", f"at most {MAX_RESERVATION_LINES} lines per request", "TOO_MANY")
    for i, line in enumerate(request.lines[:MAX_RESERVATION_LINES]):
        check_id(errors, f"lines[{i}].sku", line.sku)
        check_quantity(errors, f"lines[{i}].quantity", line.quantity)
    skus = [line.sku for line in request.lines]
    if len(set(skus)) != len(skus):
        errors.add("lines", "each SKU at most once per reservation", "DUPLICATE")
    ttl = _ttl(request.ttl) if request.HasField("ttl") else DEFAULT_TTL
    if ttl is None or not MIN_TTL <= ttl <= MAX_TTL:
        errors.add("ttl", "must be between 1 second and 7 days", "OUT_OF_RANGE")
    check_text(errors, "reference", request.reference)
    check_ids(errors, "location_ids", list(request.location_ids), MAX_LOCATION_FILTER)
    errors.raise_if_any()
    assert ttl is not None  # refused above otherwise
    return ReservationRequest(
        tuple(Line(line.sku, line.quantity) for line in request.lines),
        ttl,
        request.reference,
        tuple(request.location_ids),
    )


def _ttl(ttl: Duration) -> timedelta | None:
    """A TTL, or None when it is beyond what a timedelta holds (2^63-1 s) or far out of range."""
    seconds = ttl.seconds
    if not MIN_TTL.total_seconds() - 1 <= seconds <= MAX_TTL.total_seconds():
        return None
    return timedelta(seconds=seconds, microseconds=ttl.nanos // 1000)


def _moment(stamp: Timestamp) -> datetime | None:
    """A timestamp as an aware datetime, or None when it is not a valid one."""
    if not 0 <= stamp.nanos <= 999_999_999:
        return None
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def partial_lines(errors: FieldErrors, lines: Sequence[pb.PartialLine]) -> tuple[PartialLine, ...]:
    """The parts of a partial confirm or release (none: all of the reservation)."""
    if len(lines) > MAX_RESERVATION_LINES:
        errors.add("lines", f"at most {MAX_RESERVATION_LINES} parts per request", "TOO_MANY")
    for i, line in enumerate(lines[:MAX_RESERVATION_LINES]):
        check_id(errors, f"lines[{i}].sku", line.sku)
        check_quantity(errors, f"lines[{i}].quantity", line.quantity)
        check_id(errors, f"lines[{i}].location_id", line.location_id, required=False)
    keys = [(line.sku, line.location_id) for line in lines]
    if len(set(keys)) != len(keys):
        errors.add("lines", "each SKU (and location) at most once per request", "DUPLICATE")
    return tuple(PartialLine(line.sku, line.quantity, line.location_id) for line in lines)


def confirmation(request: pb.ConfirmReservationRequest) -> tuple[str, tuple[PartialLine, ...]]:
    """The reservation to confirm and the parts (none: everything held)."""
    errors = problems()
    check_reservation_id(errors, "reservation_id", request.reservation_id)
    validate_request_id(errors, request.request_id)
    check_text(errors, "reference", request.reference)
    parts = partial_lines(errors, request.lines)
    errors.raise_if_any()
    return request.reservation_id, parts


def release(request: pb.ReleaseReservationRequest) -> tuple[str, tuple[PartialLine, ...]]:
    """The reservation to release and the parts (none: everything held)."""
    errors = problems()
    check_reservation_id(errors, "reservation_id", request.reservation_id)
    validate_request_id(errors, request.request_id)
    check_text(errors, "reason", request.reason)
    parts = partial_lines(errors, request.lines)
    errors.raise_if_any()
    return request.reservation_id, parts


def extension(
    request: pb.ExtendReservationRequest,
) -> tuple[str, datetime | None, timedelta | None]:
    """The reservation and its new expiry: a moment or a TTL from now (exactly one). Whether
    it is 1 s to 7 days from now is the domain's to decide, on the batch's clock."""
    errors = problems()
    check_reservation_id(errors, "reservation_id", request.reservation_id)
    validate_request_id(errors, request.request_id)
    expire_time: datetime | None = None
    ttl: timedelta | None = None
    which = request.WhichOneof("expiry")
    if which is None:
        errors.add("expire_time", "set expire_time or ttl", "REQUIRED")
    elif which == "ttl":
        ttl = _ttl(request.ttl)
        if ttl is None or not MIN_TTL <= ttl <= MAX_TTL:
            errors.add("ttl", "must be between 1 second and 7 days", "OUT_OF_RANGE")
    else:
        expire_time = _moment(request.expire_time)
        if expire_time is None:
            errors.add("expire_time", "is not a valid timestamp", "MALFORMED")
    errors.raise_if_any()
    return request.reservation_id, expire_time, ttl


def reservation_filters(request: pb.ListReservationsRequest) -> ReservationState | None:
    """The state to list (None: any); the reference is matched exactly."""
    errors = problems()
    check_text(errors, "reference", request.reference)
    state = RESERVATION_STATES.get(request.state)
    if state is None and request.state != pb.RESERVATION_STATE_UNSPECIFIED:
        errors.add("state", "is not a reservation state", "MALFORMED")
    errors.raise_if_any()
    return state


def item_filters(request: pb.ListItemsRequest) -> tuple[str, ItemState | None]:
    """The SKU prefix (empty: any) and the state (None: any) to list."""
    errors = problems()
    check_id(errors, "sku_prefix", request.sku_prefix, required=False)
    state = ITEM_STATES.get(request.state)
    if state is None and request.state != pb.ITEM_STATE_UNSPECIFIED:
        errors.add("state", "is not an item state", "MALFORMED")
    errors.raise_if_any()
    return request.sku_prefix, state


def rename(request: pb.RenameItemRequest) -> tuple[str, str]:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "sku", request.sku)
    check_text(errors, "display_name", request.display_name)
    errors.raise_if_any()
    return request.sku, request.display_name


def deactivation(request: pb.DeactivateItemRequest) -> tuple[str, str]:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "sku", request.sku)
    check_text(errors, "reason", request.reason, required=True)
    errors.raise_if_any()
    return request.sku, request.reason


def reactivation(request: pb.ReactivateItemRequest) -> str:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "sku", request.sku)
    errors.raise_if_any()
    return request.sku


def item(request: pb.CreateItemRequest) -> tuple[str, str, list[KitComponent]]:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "item.sku", request.item.sku)
    check_text(errors, "item.display_name", request.item.display_name)
    components = _components(errors, "item.components", request.item.components)
    errors.raise_if_any()
    return request.item.sku, request.item.display_name, components


def kit_components(request: pb.SetKitComponentsRequest) -> tuple[str, list[KitComponent]]:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "sku", request.sku)
    if not request.components:
        errors.add("components", "a kit has at least one component", "EMPTY")
    components = _components(errors, "components", request.components)
    errors.raise_if_any()
    return request.sku, components


def _components(
    errors: FieldErrors, field: str, given: Sequence[pb.KitComponent]
) -> list[KitComponent]:
    components = [KitComponent(c.sku, c.quantity) for c in given]
    for i, component in enumerate(components[: kits.MAX_COMPONENTS]):
        check_id(errors, f"{field}[{i}].sku", component.sku)
    kits.check_components(errors, field, components)
    return components


def state_move(request: pb.MoveStockRequest) -> StateMove:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "sku", request.sku)
    check_id(errors, "location_id", request.location_id)
    source = _STOCK_STATES.get(request.from_state)
    target = _STOCK_STATES.get(request.to_state)
    problem = stock_states.transition_problem(source, target)
    if problem is not None:
        field = "from_state" if source not in stock_states.SOURCES else "to_state"
        errors.add(field, problem, "INVALID_STATE")
    check_quantity(errors, "quantity", request.quantity)
    check_text(errors, "reason", request.reason, required=True)
    check_text(errors, "reference", request.reference)
    errors.raise_if_any()
    assert source is not None
    assert target is not None
    return StateMove(
        request.sku,
        request.location_id,
        source,
        target,
        request.quantity,
        request.reason,
        request.reference,
    )


def reorder_point(request: pb.SetReorderPointRequest) -> ReorderPointChange:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "sku", request.sku)
    check_id(errors, "location_id", request.location_id)
    check_quantity(errors, "reorder_point", request.reorder_point, allow_zero=True)
    errors.raise_if_any()
    return ReorderPointChange(
        request.sku, request.location_id, request.reorder_point, request.etag or None
    )


def row_count(rows: Sequence[pb.StockAdjustmentRow], *, allow_empty: bool = False) -> None:
    """A bulk call or import message holds at most MAX_ROWS rows (and a call at least one)."""
    errors = problems()
    if not rows and not allow_empty:
        errors.add("rows", "at least one row is required", "EMPTY")
    if len(rows) > MAX_ROWS:
        errors.add("rows", f"at most {MAX_ROWS} rows per call or message", "TOO_MANY")
    errors.raise_if_any()


def stock_rows(rows: Sequence[pb.StockAdjustmentRow], first_index: int = 0) -> list[Row]:
    """Each row as a command with its own request key, or its own INVALID_ARGUMENT (fields
    named within the row, e.g. ``add_on_hand``)."""
    return [stock_row(row, first_index + offset) for offset, row in enumerate(rows)]


def stock_row(row: pb.StockAdjustmentRow, index: int) -> Row:
    try:
        change = _stock_change(row)
    except InvalidArgument as error:
        return Row(index, row.request_id, None, None, error)
    return Row(index, row.request_id, change, request_key(STOCK_ROW_METHOD, row))


def _stock_change(row: pb.StockAdjustmentRow) -> Adjustment | StockDelta:
    errors = problems()
    validate_request_id(errors, row.request_id)
    check_id(errors, "sku", row.sku)
    check_id(errors, "location_id", row.location_id)
    which = row.WhichOneof("change")
    if which is None:
        errors.add("change", "set set_on_hand or add_on_hand", "REQUIRED")
    elif which == "set_on_hand":
        check_quantity(errors, "set_on_hand", row.set_on_hand, allow_zero=True)
    elif row.add_on_hand == 0:
        errors.add("add_on_hand", "must not be zero", "ZERO")
    else:
        check_quantity(errors, "add_on_hand", abs(row.add_on_hand))
    expected = row.expected_on_hand if row.HasField("expected_on_hand") else None
    if expected is not None:
        check_quantity(errors, "expected_on_hand", expected, allow_zero=True)
    check_text(errors, "etag", row.etag)
    check_text(errors, "reason", row.reason, required=True)
    check_text(errors, "reference", row.reference)
    errors.raise_if_any("the row has invalid fields")
    etag = row.etag or None
    if which == "set_on_hand":
        return Adjustment(
            row.sku, row.location_id, row.set_on_hand, expected, row.reason, row.reference, etag
        )
    return StockDelta(
        row.sku, row.location_id, row.add_on_hand, expected, etag, row.reason, row.reference
    )


def location(request: pb.CreateLocationRequest) -> tuple[str, str, LocationKind]:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "location.location_id", request.location.location_id)
    check_text(errors, "location.display_name", request.location.display_name)
    kind = _LOCATION_KINDS.get(request.location.kind)
    if kind is None:
        errors.add("location.kind", "must be WAREHOUSE or STORE", "REQUIRED")
    errors.raise_if_any()
    assert kind is not None
    return request.location.location_id, request.location.display_name, kind


def one_id(field: str, value: str) -> str:
    errors = problems()
    check_id(errors, field, value)
    errors.raise_if_any()
    return value


def reservation_id(
    value: str, request_id: str | None = None, note: str = "", note_field: str = ""
) -> str:
    errors = problems()
    check_reservation_id(errors, "reservation_id", value)
    if request_id is not None:
        validate_request_id(errors, request_id)
    if note_field:
        check_text(errors, note_field, note)
    errors.raise_if_any()
    return value


def batch_skus(skus: Sequence[str], limit: int = MAX_BATCH_SKUS) -> list[str]:
    errors = problems()
    if not skus:
        errors.add("skus", "at least one SKU is required", "EMPTY")
    check_ids(errors, "skus", list(skus), limit)
    errors.raise_if_any()
    return list(skus)


def movement_filters(request: pb.ListMovementsRequest) -> None:
    errors = problems()
    if request.sku:
        check_id(errors, "sku", request.sku)
    if request.location_id:
        check_id(errors, "location_id", request.location_id)
    errors.raise_if_any()


def watch(request: pb.WatchStockRequest) -> tuple[list[str], int]:
    """The SKUs to watch (none: every SKU) and the position to start after."""
    errors = problems()
    check_ids(errors, "skus", list(request.skus), MAX_WATCH_SKUS)
    if request.after_sequence < 0:
        errors.add("after_sequence", "must not be negative", "NEGATIVE")
    errors.raise_if_any()
    return list(request.skus), request.after_sequence


def _timestamp(errors: FieldErrors, field: str, value: Timestamp) -> datetime | None:
    """The time, or a violation when it is outside what a Timestamp may hold."""
    if not _MIN_SECONDS <= value.seconds <= _MAX_SECONDS or not 0 <= value.nanos < 10**9:
        errors.add(field, "must be a time between the years 1 and 9999", "OUT_OF_RANGE")
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        seconds=value.seconds, microseconds=value.nanos // 1000
    )


def policy(request: pb.SetInventoryPolicyRequest) -> SetPolicy:
    errors = problems()
    validate_request_id(errors, request.request_id)
    given = request.policy
    check_id(errors, "policy.sku", given.sku)
    if given.location_id:
        check_id(errors, "policy.location_id", given.location_id)
    mode = _POLICY_MODES.get(given.mode)
    if mode is None:
        errors.add("policy.mode", "must be REFUSE, BACKORDER or PREORDER", "REQUIRED")
    limit = given.backorder_limit if given.HasField("backorder_limit") else None
    if limit is not None:
        check_quantity(errors, "policy.backorder_limit", limit, allow_zero=True)
    elif mode is PolicyMode.BACKORDER:
        errors.add("policy.backorder_limit", "is required for BACKORDER", "REQUIRED")
    until = None
    if given.HasField("preorder_until"):
        until = _timestamp(errors, "policy.preorder_until", given.preorder_until)
    elif mode is PolicyMode.PREORDER:
        errors.add("policy.preorder_until", "is required for PREORDER", "REQUIRED")
    if len(request.etag) > MAX_ETAG:
        errors.add("etag", f"must be at most {MAX_ETAG} characters", "TOO_LONG")
    errors.raise_if_any()
    assert mode is not None
    return SetPolicy(given.sku, given.location_id, mode, limit, until, request.etag or None)


def policy_filter(request: pb.ListInventoryPoliciesRequest) -> None:
    errors = problems()
    if request.sku:
        check_id(errors, "sku", request.sku)
    errors.raise_if_any()


def expected_receipt(request: pb.CreateExpectedReceiptRequest) -> CreateExpectedReceipt:
    errors = problems()
    validate_request_id(errors, request.request_id)
    given = request.expected_receipt
    check_id(errors, "expected_receipt.expected_receipt_id", given.expected_receipt_id)
    check_id(errors, "expected_receipt.sku", given.sku)
    check_id(errors, "expected_receipt.location_id", given.location_id)
    check_quantity(errors, "expected_receipt.quantity", given.quantity)
    when = None
    if given.HasField("expected_time"):
        when = _timestamp(errors, "expected_receipt.expected_time", given.expected_time)
    else:
        errors.add("expected_receipt.expected_time", "is required", "REQUIRED")
    check_text(errors, "expected_receipt.reference", given.reference)
    errors.raise_if_any()
    assert when is not None
    return CreateExpectedReceipt(
        given.expected_receipt_id,
        given.sku,
        given.location_id,
        given.quantity,
        when,
        given.reference,
    )


def cancel_expected_receipt(request: pb.CancelExpectedReceiptRequest) -> CancelExpectedReceipt:
    errors = problems()
    validate_request_id(errors, request.request_id)
    check_id(errors, "expected_receipt_id", request.expected_receipt_id)
    check_text(errors, "reason", request.reason)
    errors.raise_if_any()
    return CancelExpectedReceipt(request.expected_receipt_id, request.reason)


def expected_receipt_filters(request: pb.ListExpectedReceiptsRequest) -> None:
    errors = problems()
    if request.sku:
        check_id(errors, "sku", request.sku)
    if request.location_id:
        check_id(errors, "location_id", request.location_id)
    errors.raise_if_any()
