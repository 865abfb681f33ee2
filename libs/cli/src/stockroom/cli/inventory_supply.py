"""``stockroom inventory ...`` commands for the supply side: inventory policies
(refuse, backorder, preorder) and expected receipts.

Registered on the inventory group by ``stockroom.cli.main``; they share its options and
its one output model. (``receive --expected-receipt`` settles an expected receipt.)
"""

from __future__ import annotations

from datetime import datetime

import click

from stockroom.cli.calls import Call, call_options
from stockroom.cli.inventory import SERVICE, unary
from stockroom.cli.params import MOMENT
from stockroom.inventory.v1 import inventory_pb2 as pb

MODES = {
    "refuse": pb.INVENTORY_POLICY_MODE_REFUSE,
    "backorder": pb.INVENTORY_POLICY_MODE_BACKORDER,
    "preorder": pb.INVENTORY_POLICY_MODE_PREORDER,
}


@click.command("set-policy")
@click.argument("sku")
@click.argument("mode", type=click.Choice(sorted(MODES)))
@click.option("--location-id", default="", help="only at this location (default: every one)")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    help="most units outstanding (required for backorder; preorder: no limit if unset)",
)
@click.option("--until", type=MOMENT, help="preorders are taken before this ISO 8601 moment")
@click.option("--etag", default="", help="only if the policy is still this version")
@call_options(SERVICE, mutation=True)
def set_policy(
    call: Call,
    sku: str,
    mode: str,
    location_id: str,
    limit: int | None,
    until: datetime | None,
    etag: str,
) -> None:
    """Set what SKU does with demand beyond what is on hand: refuse, backorder, preorder."""
    policy = pb.InventoryPolicy(sku=sku, location_id=location_id, mode=MODES[mode])
    if limit is not None:
        policy.backorder_limit = limit
    if until is not None:
        policy.preorder_until.FromDatetime(until)
    request = pb.SetInventoryPolicyRequest(
        policy=policy, etag=etag, request_id=call.new_request_id()
    )
    unary(call, "SetInventoryPolicy", request)


@click.command("policies")
@click.option("--sku", default="")
@click.option("--page-size", type=click.IntRange(0, 1000), default=100, show_default=True)
@click.option("--page-token", default="")
@call_options(SERVICE)
def policies(call: Call, sku: str, page_size: int, page_token: str) -> None:
    """List inventory policies (one page)."""
    request = pb.ListInventoryPoliciesRequest(sku=sku, page_size=page_size, page_token=page_token)
    unary(call, "ListInventoryPolicies", request, "policies")


@click.command("expect")
@click.argument("expected_receipt_id")
@click.argument("sku")
@click.argument("location_id")
@click.argument("quantity", type=click.IntRange(min=1))
@click.option("--at", "expected_time", type=MOMENT, required=True, help="ISO 8601 arrival")
@click.option("--reference", default="", help="e.g. the purchase order number")
@call_options(SERVICE, mutation=True)
def expect(
    call: Call,
    expected_receipt_id: str,
    sku: str,
    location_id: str,
    quantity: int,
    expected_time: datetime,
    reference: str,
) -> None:
    """Record stock expected to arrive (a purchase order or shipping notice line)."""
    receipt = pb.ExpectedReceipt(
        expected_receipt_id=expected_receipt_id,
        sku=sku,
        location_id=location_id,
        quantity=quantity,
        reference=reference,
    )
    receipt.expected_time.FromDatetime(expected_time)
    request = pb.CreateExpectedReceiptRequest(
        expected_receipt=receipt, request_id=call.new_request_id()
    )
    unary(call, "CreateExpectedReceipt", request)


@click.command("expected")
@click.option("--sku", default="")
@click.option("--location-id", default="")
@click.option("--all", "include_closed", is_flag=True, help="also received and cancelled ones")
@click.option("--page-size", type=click.IntRange(0, 1000), default=100, show_default=True)
@click.option("--page-token", default="")
@call_options(SERVICE)
def expected(
    call: Call,
    sku: str,
    location_id: str,
    include_closed: bool,
    page_size: int,
    page_token: str,
) -> None:
    """List expected receipts, soonest first (one page)."""
    request = pb.ListExpectedReceiptsRequest(
        sku=sku,
        location_id=location_id,
        include_closed=include_closed,
        page_size=page_size,
        page_token=page_token,
    )
    unary(call, "ListExpectedReceipts", request, "expected_receipts")


@click.command("cancel-expected")
@click.argument("expected_receipt_id")
@click.option("--reason", default="", help="why, in your words")
@call_options(SERVICE, mutation=True)
def cancel_expected(call: Call, expected_receipt_id: str, reason: str) -> None:
    """Cancel an expected receipt: what it still expected is no longer incoming."""
    request = pb.CancelExpectedReceiptRequest(
        expected_receipt_id=expected_receipt_id, reason=reason, request_id=call.new_request_id()
    )
    unary(call, "CancelExpectedReceipt", request)


COMMANDS = (set_policy, policies, expect, expected, cancel_expected)
