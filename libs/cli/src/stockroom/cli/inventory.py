"""``stockroom inventory ...``: call the inventory service from a shell.

Every command prints the response as JSON. Mutations send a fresh request id
unless ``--request-id`` is given (pass the same one to retry safely).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from stockroom.common.client import connect
from stockroom.common.errors import StockroomError
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.inventory.v1 import inventory_pb2_grpc as pb_grpc

DEFAULT_TARGET = "127.0.0.1:50051"
TIMEOUT_S = 10.0

if TYPE_CHECKING:  # the async stub type exists only in the generated .pyi
    Stub = pb_grpc.InventoryServiceAsyncStub
    Command = Callable[[Stub, argparse.Namespace], Any]


def add_parser(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subcommands.add_parser("inventory", help="call the inventory service")
    parser.add_argument(
        "--target",
        default=os.environ.get("INVENTORY_TARGET", DEFAULT_TARGET),
        help="host:port of the inventory service (env INVENTORY_TARGET)",
    )
    actions = parser.add_subparsers(dest="action", required=True)

    def action(name: str, help_text: str, command: Command, *, mutation: bool = False) -> Any:
        sub = actions.add_parser(name, help=help_text)
        if mutation:
            sub.add_argument("--request-id", default="", help="a UUID; default: a new one")
        sub.set_defaults(handler=lambda args: asyncio.run(call(args, command)))
        return sub

    item = action("create-item", "register a SKU", create_item, mutation=True)
    item.add_argument("sku")
    item.add_argument("--name", default="")
    location = action("create-location", "register a location", create_location, mutation=True)
    location.add_argument("location_id")
    location.add_argument("--name", default="")
    location.add_argument("--store", action="store_true", help="a store (default: warehouse)")
    action("items", "list SKUs", lambda stub, args: stub.ListItems(pb.ListItemsRequest()))
    action(
        "locations",
        "list locations",
        lambda stub, args: stub.ListLocations(pb.ListLocationsRequest()),
    )
    receive = action("receive", "add received units", receive_stock, mutation=True)
    receive.add_argument("sku")
    receive.add_argument("location_id")
    receive.add_argument("quantity", type=int)
    receive.add_argument("--reference", default="")
    adjust = action("adjust", "set a counted on-hand", adjust_stock, mutation=True)
    adjust.add_argument("sku")
    adjust.add_argument("location_id")
    adjust.add_argument("on_hand", type=int)
    adjust.add_argument("--reason", required=True)
    adjust.add_argument("--expect", type=int, help="only if on hand still is this")
    transfer = action("transfer", "move units between locations", transfer_stock, mutation=True)
    transfer.add_argument("sku")
    transfer.add_argument("from_location_id")
    transfer.add_argument("to_location_id")
    transfer.add_argument("quantity", type=int)
    levels = action("levels", "stock levels of SKUs", stock_levels)
    levels.add_argument("skus", nargs="+")
    reserve = action("reserve", "hold stock: SKU=QTY ...", reserve_stock, mutation=True)
    reserve.add_argument("lines", nargs="+", metavar="SKU=QTY")
    reserve.add_argument("--ttl-s", type=int, default=900)
    reserve.add_argument("--reference", default="")
    for name, command in (("confirm", confirm), ("release", release)):
        sub = action(name, f"{name} a reservation", command, mutation=True)
        sub.add_argument("reservation_id")
    movements = action("movements", "page through the ledger", list_movements)
    movements.add_argument("--sku", default="")
    movements.add_argument("--location-id", default="")
    movements.add_argument("--page-size", type=int, default=50)
    movements.add_argument("--page-token", default="")
    watch = action("watch", "stream changes of SKUs (Ctrl-C stops)", watch_stock)
    watch.add_argument("skus", nargs="+")
    watch.add_argument("--after-sequence", type=int, default=0)


async def call(args: argparse.Namespace, command: Command) -> int:
    async with connect(args.target) as channel:
        try:
            response = await command(pb_grpc.InventoryServiceStub(channel), args)
        except StockroomError as error:
            print(f"{error.code} {error.reason}: {error.message}", file=sys.stderr)
            for violation in error.field_violations:
                print(f"  {violation.field}: {violation.description}", file=sys.stderr)
            for precondition in error.precondition_violations:
                print(f"  {precondition.subject}: {precondition.description}", file=sys.stderr)
            return 1
        except grpc.aio.AioRpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    if response is not None:
        show(response)
    return 0


def show(message: Message) -> None:
    print(json_format.MessageToJson(message, indent=2))


def request_id(args: argparse.Namespace) -> str:
    return str(args.request_id or uuid.uuid4())


def create_item(stub: Stub, args: argparse.Namespace) -> Any:
    return stub.CreateItem(
        pb.CreateItemRequest(
            item=pb.Item(sku=args.sku, display_name=args.name), request_id=request_id(args)
        ),
        timeout=TIMEOUT_S,
    )


def create_location(stub: Stub, args: argparse.Namespace) -> Any:
    kind = pb.LOCATION_KIND_STORE if args.store else pb.LOCATION_KIND_WAREHOUSE
    return stub.CreateLocation(
        pb.CreateLocationRequest(
            location=pb.Location(location_id=args.location_id, display_name=args.name, kind=kind),
            request_id=request_id(args),
        ),
        timeout=TIMEOUT_S,
    )


def receive_stock(stub: Stub, args: argparse.Namespace) -> Any:
    return stub.ReceiveStock(
        pb.ReceiveStockRequest(
            sku=args.sku,
            location_id=args.location_id,
            quantity=args.quantity,
            reference=args.reference,
            request_id=request_id(args),
        ),
        timeout=TIMEOUT_S,
    )


def adjust_stock(stub: Stub, args: argparse.Namespace) -> Any:
    request = pb.AdjustStockRequest(
        sku=args.sku,
        location_id=args.location_id,
        on_hand=args.on_hand,
        reason=args.reason,
        request_id=request_id(args),
    )
    if args.expect is not None:
        request.expected_on_hand = args.expect
    return stub.AdjustStock(request, timeout=TIMEOUT_S)


def transfer_stock(stub: Stub, args: argparse.Namespace) -> Any:
    return stub.TransferStock(
        pb.TransferStockRequest(
            sku=args.sku,
            from_location_id=args.from_location_id,
            to_location_id=args.to_location_id,
            quantity=args.quantity,
            request_id=request_id(args),
        ),
        timeout=TIMEOUT_S,
    )


def stock_levels(stub: Stub, args: argparse.Namespace) -> Any:
    return stub.BatchGetStockLevels(
        pb.BatchGetStockLevelsRequest(skus=args.skus), timeout=TIMEOUT_S
    )


def reserve_stock(stub: Stub, args: argparse.Namespace) -> Any:
    lines = []
    for text in args.lines:
        sku, _, quantity = text.partition("=")
        lines.append(pb.ReserveStockLine(sku=sku, quantity=int(quantity or "0")))
    return stub.ReserveStock(
        pb.ReserveStockRequest(
            lines=lines,
            ttl=Duration(seconds=args.ttl_s),
            reference=args.reference,
            request_id=request_id(args),
        ),
        timeout=TIMEOUT_S,
    )


def confirm(stub: Stub, args: argparse.Namespace) -> Any:
    return stub.ConfirmReservation(
        pb.ConfirmReservationRequest(
            reservation_id=args.reservation_id, request_id=request_id(args)
        ),
        timeout=TIMEOUT_S,
    )


def release(stub: Stub, args: argparse.Namespace) -> Any:
    return stub.ReleaseReservation(
        pb.ReleaseReservationRequest(
            reservation_id=args.reservation_id, request_id=request_id(args)
        ),
        timeout=TIMEOUT_S,
    )


def list_movements(stub: Stub, args: argparse.Namespace) -> Any:
    return stub.ListMovements(
        pb.ListMovementsRequest(
            sku=args.sku,
            location_id=args.location_id,
            page_size=args.page_size,
            page_token=args.page_token,
        ),
        timeout=TIMEOUT_S,
    )


async def watch_stock(stub: Stub, args: argparse.Namespace) -> None:
    stream = stub.WatchStock(
        pb.WatchStockRequest(skus=args.skus, after_sequence=args.after_sequence)
    )
    async for response in stream:
        for movement in response.movements:
            show(movement)
