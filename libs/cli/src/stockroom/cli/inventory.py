"""``stockroom inventory ...``: a command for every InventoryService RPC, plus ``health``
(stock states, kits and reorder points in ``inventory_stock``, bulk changes and ``import``
in ``inventory_bulk``).

Every command takes the shared options (``calls.call_options``) and prints through the one
output model (``output``): ``-o table|json|yaml``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click
import grpc
from google.protobuf.duration_pb2 import Duration

from stockroom.cli.calls import Call, call_options
from stockroom.cli.failures import EXIT_UNREACHABLE, Failure
from stockroom.cli.health import health_command
from stockroom.cli.output import to_data
from stockroom.cli.params import CART, PART_QUANTITY, SKU_QUANTITY
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc

SERVICE = "inventory"
KINDS = {"warehouse": pb.LOCATION_KIND_WAREHOUSE, "store": pb.LOCATION_KIND_STORE}
ITEM_STATES = {"active": pb.ITEM_STATE_ACTIVE, "inactive": pb.ITEM_STATE_INACTIVE}
# What one line of `watch` shows in a table.
WATCH_COLUMNS = (
    "sequence",
    "create_time",
    "sku",
    "location_id",
    "kind",
    "on_hand_delta",
    "reserved_delta",
    "reason",
)
# `watch` gives up after this many reconnects in a row fail (about 5 minutes of backoff).
MAX_FAILED_RECONNECTS = 60
MAX_BACKOFF_S = 5.0
MAX_PAGES = 10_000


def stub(channel: grpc.aio.Channel) -> Any:
    return pb_grpc.InventoryServiceStub(channel)


def unary(call: Call, method: str, request: Any, rows: Any = None) -> None:
    """Call ``method`` once and print its response."""
    response = call.run(
        lambda channel: getattr(stub(channel), method)(request, timeout=call.timeout_s)
    )
    call.printer.result(to_data(response), rows)


@click.group(name=SERVICE, no_args_is_help=True)
def group() -> None:
    """Call the inventory service: items, locations, stock, reservations, the ledger."""


group.add_command(health_command(SERVICE))


@group.command("create-item")
@click.argument("sku")
@click.option("--name", default="", help="display name")
@click.option(
    "--component",
    "components",
    multiple=True,
    type=SKU_QUANTITY,
    help="SKU=QTY: makes the item a kit of these (repeat per component)",
)
@call_options(SERVICE, mutation=True)
def create_item(call: Call, sku: str, name: str, components: tuple[tuple[str, int], ...]) -> None:
    """Register a SKU (a kit with --component)."""
    item = pb.Item(
        sku=sku,
        display_name=name,
        components=[pb.KitComponent(sku=s, quantity=q) for s, q in components],
    )
    unary(call, "CreateItem", pb.CreateItemRequest(item=item, request_id=call.new_request_id()))


@group.command("item")
@click.argument("sku")
@call_options(SERVICE)
def get_item(call: Call, sku: str) -> None:
    """Show one SKU."""
    unary(call, "GetItem", pb.GetItemRequest(sku=sku))


@group.command("items")
@click.option("--prefix", default="", help="only SKUs starting with this")
@click.option("--state", type=click.Choice(sorted(ITEM_STATES)), help="only active or inactive")
@click.option("--page-size", type=click.IntRange(0, 1000), default=100, show_default=True)
@click.option("--page-token", default="")
@call_options(SERVICE)
def list_items(call: Call, prefix: str, state: str | None, page_size: int, page_token: str) -> None:
    """List SKUs (one page; --page-token NEXT_PAGE_TOKEN for the next, same filters)."""
    request = pb.ListItemsRequest(
        page_size=page_size,
        page_token=page_token,
        sku_prefix=prefix,
        state=ITEM_STATES[state] if state else pb.ITEM_STATE_UNSPECIFIED,
    )
    unary(call, "ListItems", request, "items")


@group.command("create-location")
@click.argument("location_id")
@click.option("--name", default="", help="display name")
@click.option("--kind", type=click.Choice(sorted(KINDS)), default="warehouse", show_default=True)
@call_options(SERVICE, mutation=True)
def create_location(call: Call, location_id: str, name: str, kind: str) -> None:
    """Register a location."""
    location = pb.Location(location_id=location_id, display_name=name, kind=KINDS[kind])
    unary(
        call,
        "CreateLocation",
        pb.CreateLocationRequest(location=location, request_id=call.new_request_id()),
    )


@group.command("location")
@click.argument("location_id")
@call_options(SERVICE)
def get_location(call: Call, location_id: str) -> None:
    """Show one location."""
    unary(call, "GetLocation", pb.GetLocationRequest(location_id=location_id))


@group.command("locations")
@click.option("--page-size", type=click.IntRange(0, 1000), default=100, show_default=True)
@click.option("--page-token", default="")
@call_options(SERVICE)
def list_locations(call: Call, page_size: int, page_token: str) -> None:
    """List locations (one page)."""
    request = pb.ListLocationsRequest(page_size=page_size, page_token=page_token)
    unary(call, "ListLocations", request, "locations")


@group.command("receive")
@click.argument("sku")
@click.argument("location_id")
@click.argument("quantity", type=click.IntRange(min=1))
@click.option("--reference", default="", help="e.g. a purchase order")
@click.option("--expected-receipt", default="", help="the expected receipt the units settle")
@call_options(SERVICE, mutation=True)
def receive(
    call: Call, sku: str, location_id: str, quantity: int, reference: str, expected_receipt: str
) -> None:
    """Add received units (they fill waiting backorders first)."""
    request = pb.ReceiveStockRequest(
        sku=sku,
        location_id=location_id,
        quantity=quantity,
        reference=reference,
        expected_receipt_id=expected_receipt,
        request_id=call.new_request_id(),
    )
    unary(call, "ReceiveStock", request)


@group.command("adjust")
@click.argument("sku")
@click.argument("location_id")
@click.argument("on_hand", type=click.IntRange(min=0))
@click.option("--reason", required=True, help="why the count changed")
@click.option("--expect", type=click.IntRange(min=0), help="only if on hand still is this")
@call_options(SERVICE, mutation=True)
def adjust(
    call: Call, sku: str, location_id: str, on_hand: int, reason: str, expect: int | None
) -> None:
    """Set a counted on-hand."""
    request = pb.AdjustStockRequest(
        sku=sku,
        location_id=location_id,
        on_hand=on_hand,
        reason=reason,
        request_id=call.new_request_id(),
    )
    if expect is not None:
        request.expected_on_hand = expect
    unary(call, "AdjustStock", request)


@group.command("transfer")
@click.argument("sku")
@click.argument("from_location_id")
@click.argument("to_location_id")
@click.argument("quantity", type=click.IntRange(min=1))
@call_options(SERVICE, mutation=True)
def transfer(
    call: Call, sku: str, from_location_id: str, to_location_id: str, quantity: int
) -> None:
    """Move units between locations."""
    request = pb.TransferStockRequest(
        sku=sku,
        from_location_id=from_location_id,
        to_location_id=to_location_id,
        quantity=quantity,
        request_id=call.new_request_id(),
    )
    unary(call, "TransferStock", request)


@group.command("safety-stock")
@click.argument("sku")
@click.argument("location_id")
@click.argument("safety_stock", type=click.IntRange(min=0))
@click.option("--etag", default="", help="only if the level is still this version")
@call_options(SERVICE, mutation=True)
def safety_stock(call: Call, sku: str, location_id: str, safety_stock: int, etag: str) -> None:
    """Set the units never promised at a location."""
    request = pb.SetSafetyStockRequest(
        sku=sku,
        location_id=location_id,
        safety_stock=safety_stock,
        etag=etag,
        request_id=call.new_request_id(),
    )
    unary(call, "SetSafetyStock", request)


@group.command("levels")
@click.argument("skus", nargs=-1, required=True)
@call_options(SERVICE)
def levels(call: Call, skus: tuple[str, ...]) -> None:
    """Stock levels of SKUs, per location (a kit: one row, the whole kits available)."""

    def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            level
            for sku in data["skus"]
            for level in (sku["levels"] if not sku["kit"] else [_kit_row(sku)])
        ]

    unary(call, "BatchGetStockLevels", pb.BatchGetStockLevelsRequest(skus=list(skus)), rows)


def _kit_row(sku: dict[str, Any]) -> dict[str, Any]:
    """A kit in the levels table: no level of its own, the kits its components make."""
    row = to_data(pb.StockLevel(sku=sku["sku"], location_id="(kit)"))
    row["available"] = sku["available"]
    return dict(row)


@group.command("check")
@click.argument("lines", nargs=-1, required=True, type=SKU_QUANTITY)
@click.option(
    "--location", "locations", multiple=True, help="count only this location (repeatable)"
)
@call_options(SERVICE)
def check(call: Call, lines: tuple[tuple[str, int], ...], locations: tuple[str, ...]) -> None:
    """Can these quantities be promised (as `reserve` with the same --location would)?
    SKU=QTY ..."""
    request = pb.CheckAvailabilityRequest(
        lines=[pb.AvailabilityLine(sku=s, quantity=q) for s, q in lines],
        location_ids=list(locations),
    )
    unary(call, "CheckAvailability", request, "lines")


@group.command("check-carts")
@click.argument("carts", nargs=-1, required=True, type=CART)
@call_options(SERVICE)
def check_carts(call: Call, carts: tuple[tuple[tuple[str, int], ...], ...]) -> None:
    """Several carts in one call, each checked as if alone (as pricing checks the
    quotes it makes at the same time). SKU=QTY,SKU=QTY ... (one argument per cart)"""
    request = pb.BatchCheckAvailabilityRequest(
        requests=[
            pb.CheckAvailabilityRequest(
                lines=[pb.AvailabilityLine(sku=s, quantity=q) for s, q in lines]
            )
            for lines in carts
        ]
    )

    def rows(data: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"cart": index, **line}
            for index, response in enumerate(data["responses"])
            for line in response["lines"]
        ]

    unary(call, "BatchCheckAvailability", request, rows)


@group.command("reserve")
@click.argument("lines", nargs=-1, required=True, type=SKU_QUANTITY)
@click.option(
    "--ttl-s",
    type=click.IntRange(min=1),
    default=900,
    show_default=True,
    help="seconds the hold lasts",
)
@click.option("--reference", default="", help="e.g. an order id")
@click.option(
    "--location", "locations", multiple=True, help="take only from this location (repeatable)"
)
@call_options(SERVICE, mutation=True)
def reserve(
    call: Call,
    lines: tuple[tuple[str, int], ...],
    ttl_s: int,
    reference: str,
    locations: tuple[str, ...],
) -> None:
    """Hold stock: SKU=QTY ..."""
    request = pb.ReserveStockRequest(
        lines=[pb.ReserveStockLine(sku=s, quantity=q) for s, q in lines],
        ttl=Duration(seconds=ttl_s),
        reference=reference,
        location_ids=list(locations),
        request_id=call.new_request_id(),
    )
    unary(call, "ReserveStock", request)


@group.command("reservation")
@click.argument("reservation_id")
@call_options(SERVICE)
def get_reservation(call: Call, reservation_id: str) -> None:
    """Show a reservation."""
    unary(call, "GetReservation", pb.GetReservationRequest(reservation_id=reservation_id))


def _parts(parts: tuple[tuple[str, str, int], ...]) -> list[pb.PartialLine]:
    return [pb.PartialLine(sku=s, location_id=loc, quantity=q) for s, loc, q in parts]


@group.command("confirm")
@click.argument("reservation_id")
@click.argument("parts", nargs=-1, type=PART_QUANTITY)
@click.option("--reference", default="", help="e.g. a shipment id")
@call_options(SERVICE, mutation=True)
def confirm(
    call: Call, reservation_id: str, parts: tuple[tuple[str, str, int], ...], reference: str
) -> None:
    """Confirm a reservation: its units leave stock. With SKU[@LOCATION]=QTY ... only those
    units; the rest stays held."""
    request = pb.ConfirmReservationRequest(
        reservation_id=reservation_id,
        reference=reference,
        lines=_parts(parts),
        request_id=call.new_request_id(),
    )
    unary(call, "ConfirmReservation", request)


@group.command("release")
@click.argument("reservation_id")
@click.argument("parts", nargs=-1, type=PART_QUANTITY)
@click.option("--reason", default="", help="why, in your words")
@call_options(SERVICE, mutation=True)
def release(
    call: Call, reservation_id: str, parts: tuple[tuple[str, str, int], ...], reason: str
) -> None:
    """Release a reservation: its units can be promised again. With SKU[@LOCATION]=QTY ...
    only those units; the rest stays held."""
    request = pb.ReleaseReservationRequest(
        reservation_id=reservation_id,
        reason=reason,
        lines=_parts(parts),
        request_id=call.new_request_id(),
    )
    unary(call, "ReleaseReservation", request)


@group.command("movements")
@click.option("--sku", default="")
@click.option("--location-id", default="")
@click.option("--page-size", type=click.IntRange(0, 1000), default=100, show_default=True)
@click.option("--page-token", default="")
@call_options(SERVICE)
def movements(call: Call, sku: str, location_id: str, page_size: int, page_token: str) -> None:
    """Page through the ledger, oldest first."""
    request = pb.ListMovementsRequest(
        sku=sku, location_id=location_id, page_size=page_size, page_token=page_token
    )
    unary(call, "ListMovements", request, "movements")


@group.command("watch")
@click.argument("skus", nargs=-1)
@click.option(
    "--after-sequence", type=click.IntRange(min=0), default=0, help="resume after this ledger entry"
)
@call_options(SERVICE)
def watch(call: Call, skus: tuple[str, ...], after_sequence: int) -> None:
    """Stream ledger entries of SKUs (none: of every SKU), one line each, until Ctrl-C;
    reconnects and resumes after the last entry shown when the connection drops (no
    deadline)."""
    call.guard(lambda: _watch(call, list(skus), after_sequence))


async def _watch(call: Call, skus: list[str], after: int) -> None:
    printer = call.printer
    last = after
    failed = 0
    for attempt in range(1_000_000):  # reconnects over the command's life; Ctrl-C ends it
        channel = call.stream_channel()
        async with channel:
            try:
                await asyncio.wait_for(channel.channel_ready(), call.timeout_s)
            except TimeoutError:
                if attempt == 0:
                    raise Failure(
                        f"{SERVICE} at {call.target} did not answer within {call.timeout_s:g} s",
                        EXIT_UNREACHABLE,
                        hint=f"is {SERVICE} running? `make run` starts both services;"
                        " or set --target / INVENTORY_TARGET.",
                    ) from None
                failed += 1
            else:
                try:
                    stream = stub(channel).WatchStock(
                        pb.WatchStockRequest(skus=skus, after_sequence=last)
                    )
                    async for response in stream:
                        failed = 0
                        for movement in response.movements:
                            printer.event(to_data(movement), WATCH_COLUMNS)
                            last = movement.sequence
                except grpc.aio.AioRpcError as error:
                    if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                        raise
                    failed += 1
        if failed > MAX_FAILED_RECONNECTS:
            raise Failure(
                f"{SERVICE} at {call.target} stayed unreachable; stopped watching", EXIT_UNREACHABLE
            )
        delay = min(MAX_BACKOFF_S, 0.1 * 2**failed)
        print(
            f"watch: connection to {call.target} lost;"
            f" resuming after sequence {last} in {delay:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        await asyncio.sleep(delay)
