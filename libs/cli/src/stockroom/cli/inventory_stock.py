"""``stockroom inventory ...`` commands for stock states, kits and reorder points: ``move``
(MoveStock), ``kit-components`` (SetKitComponents), ``reorder-point`` (SetReorderPoint).

Registered on the inventory group by ``stockroom.cli.main``; kits are created with
``create-item SKU --component PART=QTY ...``.
"""

from __future__ import annotations

import click

from stockroom.cli.calls import Call, call_options
from stockroom.cli.inventory import SERVICE, unary
from stockroom.cli.params import SKU_QUANTITY
from stockroom.inventory.v1 import inventory_pb2 as pb

STATES = {
    "sellable": pb.STOCK_STATE_SELLABLE,
    "damaged": pb.STOCK_STATE_DAMAGED,
    "qc": pb.STOCK_STATE_QUALITY_CONTROL,
    "written-off": pb.STOCK_STATE_WRITTEN_OFF,
}


@click.command("move")
@click.argument("sku")
@click.argument("location_id")
@click.argument("quantity", type=click.IntRange(min=1))
@click.option(
    "--from",
    "from_state",
    type=click.Choice(sorted(set(STATES) - {"written-off"})),
    required=True,
)
@click.option("--to", "to_state", type=click.Choice(sorted(STATES)), required=True)
@click.option("--reason", required=True, help="why, e.g. BROKEN_IN_TRANSIT")
@click.option("--reference", default="", help="e.g. an inspection report")
@call_options(SERVICE, mutation=True)
def move(
    call: Call,
    sku: str,
    location_id: str,
    quantity: int,
    from_state: str,
    to_state: str,
    reason: str,
    reference: str,
) -> None:
    """Move units between sellable, damaged and qc (quality control); write damaged units
    off with --to written-off. Reserved units never leave sellable."""
    request = pb.MoveStockRequest(
        sku=sku,
        location_id=location_id,
        from_state=STATES[from_state],
        to_state=STATES[to_state],
        quantity=quantity,
        reason=reason,
        reference=reference,
        request_id=call.new_request_id(),
    )
    unary(call, "MoveStock", request)


@click.command("kit-components")
@click.argument("sku")
@click.argument("components", nargs=-1, required=True, type=SKU_QUANTITY)
@call_options(SERVICE, mutation=True)
def kit_components(call: Call, sku: str, components: tuple[tuple[str, int], ...]) -> None:
    """Replace a kit's components: KIT PART=QTY ..."""
    request = pb.SetKitComponentsRequest(
        sku=sku,
        components=[pb.KitComponent(sku=s, quantity=q) for s, q in components],
        request_id=call.new_request_id(),
    )
    unary(call, "SetKitComponents", request)


@click.command("reorder-point")
@click.argument("sku")
@click.argument("location_id")
@click.argument("reorder_point", type=click.IntRange(min=0))
@click.option("--etag", default="", help="only if the level is still this version")
@call_options(SERVICE, mutation=True)
def reorder_point(call: Call, sku: str, location_id: str, reorder_point: int, etag: str) -> None:
    """Set the available quantity below which a below-reorder-point event is published
    (0: none)."""
    request = pb.SetReorderPointRequest(
        sku=sku,
        location_id=location_id,
        reorder_point=reorder_point,
        etag=etag,
        request_id=call.new_request_id(),
    )
    unary(call, "SetReorderPoint", request)


COMMANDS = (move, kit_components, reorder_point)
