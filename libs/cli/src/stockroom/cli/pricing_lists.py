"""``stockroom pricing ...`` commands for named price lists: create one (a draft), show one,
list them, and move one to active or archived.

Registered on the pricing group by ``stockroom.cli.main``; prices go into a list with
``set-price --list ID``, and ``quote --dry-run --try-list ID`` prices with a draft.
"""

from __future__ import annotations

import click

from stockroom.cli.calls import Call, call_options
from stockroom.cli.pricing import SERVICE, basis_points, scope_options, unary
from stockroom.pricing.v1 import pricing_pb2 as pb

KINDS = {"override": pb.PRICE_LIST_KIND_OVERRIDE, "sale": pb.PRICE_LIST_KIND_SALE}
STATUSES = {
    "draft": pb.PRICE_LIST_STATUS_DRAFT,
    "active": pb.PRICE_LIST_STATUS_ACTIVE,
    "archived": pb.PRICE_LIST_STATUS_ARCHIVED,
}


@click.command("create-price-list")
@click.argument("name")
@click.argument("currency")
@scope_options
@click.option("--country", default="", help="country or region, e.g. CH, US-CA")
@click.option("--kind", type=click.Choice(sorted(KINDS)), default="override", show_default=True)
@click.option("--relative-to", "base", default="", help="price list id the prices come from")
@click.option("--percent", help="with --relative-to: change from its prices, e.g. -10")
@call_options(SERVICE, mutation=True)
def create_price_list(
    call: Call,
    name: str,
    currency: str,
    channel: str,
    group: str,
    country: str,
    kind: str,
    base: str,
    percent: str | None,
) -> None:
    """Create a named price list (a draft until set-price-list-status activates it)."""
    if percent is not None and not base:
        raise click.UsageError("--percent goes with --relative-to")
    price_list = pb.PriceList(
        display_name=name,
        currency_code=currency,
        channel=channel,
        customer_group=group,
        country=country,
        kind=KINDS[kind],
        base_price_list_id=base,
        adjustment_basis_points=0 if percent is None else basis_points(percent),
    )
    request = pb.CreatePriceListRequest(request_id=call.new_request_id(), price_list=price_list)
    unary(call, "CreatePriceList", request)


@click.command("price-list")
@click.argument("price_list_id")
@call_options(SERVICE)
def get_price_list(call: Call, price_list_id: str) -> None:
    """Show one price list."""
    unary(call, "GetPriceList", pb.GetPriceListRequest(price_list_id=price_list_id))


@click.command("price-lists")
@click.option("--currency", default="", help="only this currency's lists")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(sorted(STATUSES)),
    help="only lists in this status; repeat",
)
@click.option("--page-size", type=click.IntRange(0, 1000), default=100, show_default=True)
@click.option("--page-token", default="")
@call_options(SERVICE)
def price_lists(
    call: Call, currency: str, statuses: tuple[str, ...], page_size: int, page_token: str
) -> None:
    """List price lists (one page), oldest first."""
    request = pb.ListPriceListsRequest(
        currency_code=currency,
        statuses=[STATUSES[s] for s in statuses],
        page_size=page_size,
        page_token=page_token,
    )
    unary(call, "ListPriceLists", request, "price_lists")


@click.command("set-price-list-status")
@click.argument("price_list_id")
@click.argument("status", type=click.Choice(["active", "archived"]))
@click.option(
    "--replace-active",
    is_flag=True,
    help="archive the scope's active override list in the same step",
)
@call_options(SERVICE)
def set_price_list_status(
    call: Call, price_list_id: str, status: str, replace_active: bool
) -> None:
    """Activate or archive a price list (draft -> active -> archived)."""
    request = pb.UpdatePriceListStatusRequest(
        price_list_id=price_list_id, status=STATUSES[status], replace_active=replace_active
    )
    unary(call, "UpdatePriceListStatus", request)


COMMANDS = (create_price_list, get_price_list, price_lists, set_price_list_status)
