"""``stockroom inventory ...`` commands for a reservation's and an item's life after they
were made (extend, list reservations, rename, deactivate and reactivate items) and for
verifying the ledger.

Registered on the inventory group by ``stockroom.cli.main``; they share its options, its
argument types and its one output model. Partial confirm and release are the
``confirm``/``release`` commands with SKU[@LOCATION]=QTY arguments (``inventory.py``).
"""

from __future__ import annotations

from typing import Any

import click
import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from stockroom.cli.calls import Call, call_options
from stockroom.cli.failures import EXIT_REFUSED, Failure
from stockroom.cli.inventory import MAX_PAGES, SERVICE, stub, unary
from stockroom.cli.output import to_data
from stockroom.cli.params import MOMENT
from stockroom.inventory.v1 import inventory_pb2 as pb

RESERVATION_STATES = {
    "active": pb.RESERVATION_STATE_ACTIVE,
    "confirmed": pb.RESERVATION_STATE_CONFIRMED,
    "released": pb.RESERVATION_STATE_RELEASED,
    "expired": pb.RESERVATION_STATE_EXPIRED,
    "mixed": pb.RESERVATION_STATE_MIXED,
}


@click.command("extend")
@click.argument("reservation_id")
@click.option("--ttl-s", type=click.IntRange(min=1), help="new expiry: seconds from now")
@click.option("--until", "expire_time", type=MOMENT, help="new expiry: an ISO 8601 moment")
@call_options(SERVICE, mutation=True)
def extend(call: Call, reservation_id: str, ttl_s: int | None, expire_time: Any) -> None:
    """Give an active reservation a later expiry (--ttl-s or --until; never an earlier one)."""
    if (ttl_s is None) == (expire_time is None):
        raise click.UsageError("give exactly one of --ttl-s and --until")
    request = pb.ExtendReservationRequest(
        reservation_id=reservation_id, request_id=call.new_request_id()
    )
    if ttl_s is not None:
        request.ttl.CopyFrom(Duration(seconds=ttl_s))
    else:
        stamp = Timestamp()
        stamp.FromDatetime(expire_time)
        request.expire_time.CopyFrom(stamp)
    unary(call, "ExtendReservation", request)


@click.command("reservations")
@click.option("--reference", default="", help="only this reference (exactly)")
@click.option("--state", type=click.Choice(sorted(RESERVATION_STATES)), help="only this state")
@click.option("--page-size", type=click.IntRange(0, 1000), default=100, show_default=True)
@click.option("--page-token", default="")
@call_options(SERVICE)
def list_reservations(
    call: Call, reference: str, state: str | None, page_size: int, page_token: str
) -> None:
    """List reservations, oldest first (one page)."""
    request = pb.ListReservationsRequest(
        reference=reference,
        state=RESERVATION_STATES[state] if state else pb.RESERVATION_STATE_UNSPECIFIED,
        page_size=page_size,
        page_token=page_token,
    )
    unary(call, "ListReservations", request, "reservations")


@click.command("rename-item")
@click.argument("sku")
@click.argument("name")
@call_options(SERVICE, mutation=True)
def rename_item(call: Call, sku: str, name: str) -> None:
    """Give a SKU a new display name."""
    request = pb.RenameItemRequest(sku=sku, display_name=name, request_id=call.new_request_id())
    unary(call, "RenameItem", request)


@click.command("deactivate-item")
@click.argument("sku")
@click.option("--reason", required=True, help="why, e.g. DISCONTINUED")
@call_options(SERVICE, mutation=True)
def deactivate_item(call: Call, sku: str, reason: str) -> None:
    """Refuse new reservations of a SKU (existing ones can still be confirmed or released)."""
    request = pb.DeactivateItemRequest(sku=sku, reason=reason, request_id=call.new_request_id())
    unary(call, "DeactivateItem", request)


@click.command("reactivate-item")
@click.argument("sku")
@call_options(SERVICE, mutation=True)
def reactivate_item(call: Call, sku: str) -> None:
    """Let a deactivated SKU be reserved again."""
    request = pb.ReactivateItemRequest(sku=sku, request_id=call.new_request_id())
    unary(call, "ReactivateItem", request)


@click.command("verify-ledger")
@click.option(
    "--page-size",
    type=click.IntRange(1, 1000),
    default=1000,
    show_default=True,
    help="levels checked per call",
)
@call_options(SERVICE)
def verify_ledger(call: Call, page_size: int) -> None:
    """Check every stock level against the ledger's sums and the active reservations, page by
    page; list each level that disagrees. Exit 1 if any does."""

    async def verify(channel: grpc.aio.Channel) -> dict[str, Any]:
        inventory = stub(channel)
        mismatches: list[dict[str, Any]] = []
        checked, token = 0, ""
        for _ in range(MAX_PAGES):
            request = pb.VerifyLedgerRequest(page_size=page_size, page_token=token)
            page = await inventory.VerifyLedger(request, timeout=call.timeout_s)
            mismatches.extend(to_data(m) for m in page.mismatches)
            checked += page.levels_checked
            token = page.next_page_token
            if not token:
                return {"mismatches": mismatches, "levels_checked": checked}
        raise Failure(f"more than {MAX_PAGES} pages; stopped", EXIT_REFUSED)

    result = call.run(verify)
    call.printer.result(result, "mismatches")
    if result["mismatches"]:
        raise Failure(
            f"{len(result['mismatches'])} of {result['levels_checked']} stock levels disagree"
            " with the ledger",
            EXIT_REFUSED,
            hint="docs/runbooks.md, StockroomLedgerMismatch: what to do",
        )


COMMANDS = (extend, list_reservations, rename_item, deactivate_item, reactivate_item, verify_ledger)
