"""``stockroom pricing ...``: a command for every PricingService RPC, plus ``health``.
Promotion lifecycle, discount codes and redemptions live in ``pricing_lifecycle``, bulk
prices (``import``: a CSV through ImportPrices, with a progress bar) in ``pricing_bulk``,
named price lists in ``pricing_lists``.

Amounts are decimals (``12.50``) converted to google.type.Money exactly; percentages as
``12.5`` (basis points on the wire); moments in ISO 8601 with a zone.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import click
import grpc
from google.protobuf import timestamp_pb2
from google.type import money_pb2

from stockroom.cli.calls import Call, call_options
from stockroom.cli.health import health_command
from stockroom.cli.output import to_data
from stockroom.cli.params import AMOUNT, MOMENT, SKU_QUANTITY
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

SERVICE = "pricing"
NANOS_PER_UNIT = 1_000_000_000
MODES = {"volume": pb.TIERS_MODE_VOLUME, "graduated": pb.TIERS_MODE_GRADUATED}
STATES = tuple(
    value.name.removeprefix("PROMOTION_STATE_").lower()
    for value in pb.PromotionState.DESCRIPTOR.values
    if value.number != pb.PROMOTION_STATE_UNSPECIFIED
)


def stub(channel: grpc.aio.Channel) -> Any:
    return pb_grpc.PricingServiceStub(channel)


def unary(call: Call, method: str, request: Any, rows: Any = None) -> None:
    response = call.run(
        lambda channel: getattr(stub(channel), method)(request, timeout=call.timeout_s)
    )
    call.printer.result(to_data(response), rows)


def money(amount: Decimal, currency_code: str) -> money_pb2.Money:
    """``12.50`` in ``USD`` as google.type.Money, exactly (the server checks the places)."""
    units = int(amount)
    nanos = (amount - units) * NANOS_PER_UNIT
    if nanos != nanos.to_integral_value():
        raise click.BadParameter(f"{amount} has more than 9 decimal places")
    return money_pb2.Money(currency_code=currency_code, units=units, nanos=int(nanos))


def tier(text: str, currency: str) -> pb.PriceTier:
    """``UP_TO:AMOUNT[:FLAT]``."""
    up_to, _, rest = text.partition(":")
    amount, _, flat = rest.partition(":")
    try:
        return pb.PriceTier(
            up_to=int(up_to),
            unit_amount=money(Decimal(amount), currency),
            flat_amount=money(Decimal(flat or "0"), currency),
        )
    except (ValueError, InvalidOperation):
        raise click.BadParameter(
            f"{text!r} is not UP_TO:AMOUNT[:FLAT] (e.g. 10:20 or 0:15)", param_hint="--tier"
        ) from None


def basis_points(text: str) -> int:
    try:
        basis_points = Decimal(text) * 100
    except InvalidOperation:
        raise click.BadParameter(
            f"{text!r} is not a percentage (e.g. 12.5)", param_hint="--percent"
        ) from None
    if not basis_points.is_finite() or basis_points != basis_points.to_integral_value():
        raise click.BadParameter(f"{text!r}: at most two decimal places", param_hint="--percent")
    return int(basis_points)


def sku_amount(entry: str, hint: str) -> tuple[str, Decimal]:
    """``SKU=AMOUNT`` (``MUG=12.50``)."""
    sku, separator, amount = entry.rpartition("=")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        value = None
    if not separator or not sku or value is None or not value.is_finite():
        raise click.BadParameter(f"{entry!r} is not SKU=AMOUNT (e.g. MUG=12.50)", param_hint=hint)
    return sku, value


def tax_rates(entries: tuple[str, ...]) -> dict[str, list[pb.TaxRate]]:
    """``SKU:RATE`` entries (``MUG:8.1``) as each SKU's tax rates, in the order given."""
    rates: dict[str, list[pb.TaxRate]] = {}
    for entry in entries:
        sku, _, rate = entry.rpartition(":")
        try:
            valid = bool(sku) and Decimal(rate).is_finite()
        except InvalidOperation:
            valid = False
        if not valid:
            raise click.BadParameter(
                f"{entry!r} is not SKU:RATE (e.g. MUG:8.1)", param_hint="--tax"
            )
        rates.setdefault(sku, []).append(pb.TaxRate(name="tax", rate_percent=rate))
    return rates


def set_time(field: timestamp_pb2.Timestamp, moment: datetime | None) -> None:
    if moment is not None:
        field.FromDatetime(moment)


def scope_options(command: Any) -> Any:
    command = click.option("--group", default="", help="customer group price list")(command)
    return click.option("--channel", default="", help="sales channel price list")(command)


@click.group(name=SERVICE, no_args_is_help=True)
def group() -> None:
    """Call the pricing service: prices, promotions, quotes."""


group.add_command(health_command(SERVICE))


@group.command("set-price")
@click.argument("sku")
@click.argument("currency")
@click.argument("amount", required=False, type=AMOUNT)
@click.option(
    "--tier",
    "tiers",
    multiple=True,
    metavar="UP_TO:AMOUNT[:FLAT]",
    help="a tier (UP_TO 0 for 'and above'); repeat in order",
)
@click.option("--mode", type=click.Choice(sorted(MODES)), help="how tiers charge")
@scope_options
@click.option("--country", default="", help="country or region price list, e.g. CH, US-CA")
@click.option("--list", "price_list", default="", help="into this price list id (no scope)")
@click.option("--tax-inclusive", is_flag=True, help="the amounts include tax")
@click.option("--from", "valid_from", type=MOMENT, help="ISO 8601 start")
@click.option("--until", "valid_until", type=MOMENT, help="ISO 8601 end")
@call_options(SERVICE, mutation=True)
def set_price(
    call: Call,
    sku: str,
    currency: str,
    amount: Decimal | None,
    tiers: tuple[str, ...],
    mode: str | None,
    channel: str,
    group: str,
    country: str,
    price_list: str,
    tax_inclusive: bool,
    valid_from: datetime | None,
    valid_until: datetime | None,
) -> None:
    """Record a price (per unit, or tiered with --tier): into --list, or the scope's
    active override list."""
    request = pb.SetPriceRequest(
        sku=sku,
        request_id=call.new_request_id(),
        channel=channel,
        customer_group=group,
        tiers_mode=MODES.get(mode or "", pb.TIERS_MODE_UNSPECIFIED),
        country=country,
        tax_inclusive=tax_inclusive,
        price_list_id=price_list,
    )
    if amount is not None:
        request.unit_price.CopyFrom(money(amount, currency))
    request.tiers.extend(tier(text, currency) for text in tiers)
    set_time(request.valid_from, valid_from)
    set_time(request.valid_until, valid_until)
    unary(call, "SetPrice", request)


@group.command("get-price")
@click.argument("sku")
@click.argument("currency")
@scope_options
@click.option("--country", default="", help="country or region, e.g. CH, US-CA")
@click.option("--at", type=MOMENT, help="ISO 8601 moment (default now)")
@click.option("--quantity", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--explain", is_flag=True, help="every candidate, the lists tried, the list taken")
@call_options(SERVICE)
def get_price(
    call: Call,
    sku: str,
    currency: str,
    channel: str,
    group: str,
    country: str,
    at: datetime | None,
    quantity: int,
    explain: bool,
) -> None:
    """The price in effect (for --quantity units: a sale price applies when it is lower)."""
    request = pb.GetPriceRequest(
        sku=sku,
        currency_code=currency,
        channel=channel,
        customer_group=group,
        country=country,
        quantity=quantity,
        explain=explain,
    )
    set_time(request.price_time, at)
    unary(call, "GetPrice", request)


@group.command("history")
@click.argument("sku")
@click.option("--currency", default="")
@click.option("--page-size", type=click.IntRange(0, 500), default=100, show_default=True)
@click.option("--page-token", default="")
@call_options(SERVICE)
def history(call: Call, sku: str, currency: str, page_size: int, page_token: str) -> None:
    """Every price version of a SKU (one page)."""
    request = pb.ListPricesRequest(
        sku=sku, currency_code=currency, page_size=page_size, page_token=page_token
    )
    unary(call, "ListPrices", request, "prices")


@group.command("create-promotion")
@click.argument("name")
@click.option("--percent", help="percentage off, e.g. 12.5")
@click.option("--amount-off", type=AMOUNT, help="amount off each unit (SKUs) or the cart")
@click.option("--currency", default="")
@click.option("--sku", "skus", multiple=True, help="target SKU (else the cart); repeat")
@click.option("--min-quantity", type=click.IntRange(min=0), default=0)
@click.option("--min-subtotal", type=AMOUNT)
@click.option("--from", "valid_from", type=MOMENT)
@click.option("--until", "valid_until", type=MOMENT)
@click.option("--requires-code", is_flag=True, help="only for quotes that give one of its codes")
@click.option("--max-uses", type=click.IntRange(min=0), default=0, help="redemptions (0: any)")
@click.option("--max-uses-per-customer", type=click.IntRange(min=0), default=0, help="per customer")
@click.option("--budget", type=AMOUNT, help="total discount it may give")
@click.option("--budget-per-customer", type=AMOUNT, help="total discount per customer")
@call_options(SERVICE, mutation=True)
def create_promotion(
    call: Call,
    name: str,
    percent: str | None,
    amount_off: Decimal | None,
    currency: str,
    skus: tuple[str, ...],
    min_quantity: int,
    min_subtotal: Decimal | None,
    valid_from: datetime | None,
    valid_until: datetime | None,
    requires_code: bool,
    max_uses: int,
    max_uses_per_customer: int,
    budget: Decimal | None,
    budget_per_customer: Decimal | None,
) -> None:
    """Create a promotion: --percent or --amount-off, with optional codes and limits."""
    if (percent is None) == (amount_off is None):
        raise click.UsageError("give exactly one of --percent and --amount-off")
    promotion = pb.Promotion(
        display_name=name,
        currency_code=currency,
        target=pb.PROMOTION_TARGET_SKUS if skus else pb.PROMOTION_TARGET_CART,
        skus=list(skus),
        minimum_quantity=min_quantity,
        requires_code=requires_code,
        limits=pb.PromotionLimits(max_uses=max_uses, max_uses_per_customer=max_uses_per_customer),
    )
    if budget is not None:
        promotion.limits.budget.CopyFrom(money(budget, currency))
    if budget_per_customer is not None:
        promotion.limits.budget_per_customer.CopyFrom(money(budget_per_customer, currency))
    if percent is not None:
        promotion.basis_points_off = basis_points(percent)
    elif amount_off is not None:
        promotion.amount_off.CopyFrom(money(amount_off, currency))
    if min_subtotal is not None:
        promotion.minimum_subtotal.CopyFrom(money(min_subtotal, currency))
    set_time(promotion.valid_from, valid_from)
    set_time(promotion.valid_until, valid_until)
    unary(
        call,
        "CreatePromotion",
        pb.CreatePromotionRequest(request_id=call.new_request_id(), promotion=promotion),
    )


@group.command("promotion")
@click.argument("promotion_id")
@call_options(SERVICE)
def get_promotion(call: Call, promotion_id: str) -> None:
    """Show one promotion."""
    unary(call, "GetPromotion", pb.GetPromotionRequest(promotion_id=promotion_id))


@group.command("promotions")
@click.option("--active-at", type=MOMENT, help="only those active at this moment")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES, case_sensitive=False),
    help="only promotions in this state; repeat",
)
@click.option("--page-size", type=click.IntRange(0, 500), default=100, show_default=True)
@click.option("--page-token", default="")
@call_options(SERVICE)
def promotions(
    call: Call,
    active_at: datetime | None,
    states: tuple[str, ...],
    page_size: int,
    page_token: str,
) -> None:
    """List promotions (one page)."""
    request = pb.ListPromotionsRequest(
        page_size=page_size,
        page_token=page_token,
        states=[pb.PromotionState.Value(f"PROMOTION_STATE_{s.upper()}") for s in states],
    )
    set_time(request.active_time, active_at)
    unary(call, "ListPromotions", request, "promotions")


@group.command("quote")
@click.argument("currency")
@click.argument("lines", nargs=-1, required=True, type=SKU_QUANTITY)
@scope_options
@click.option("--at", type=MOMENT, help="price at this ISO 8601 moment")
@click.option("--country", default="", help="country or region, e.g. CH, US-CA")
@click.option("--code", "codes", multiple=True, help="a discount code; repeat")
@click.option("--customer", default="", help="customer id (per-customer limits)")
@click.option("--tax", "taxes", multiple=True, metavar="SKU:RATE", help="e.g. MUG:8.1; repeat")
@click.option("--explain", is_flag=True, help="explain each line's price and promotions")
@click.option("--dry-run", is_flag=True, help="price the cart, store nothing")
@click.option(
    "--try-list", "drafts", multiple=True, help="with --dry-run: a draft price list id; repeat"
)
@click.option(
    "--pending-price",
    "pending",
    multiple=True,
    metavar="SKU=AMOUNT",
    help="with --dry-run: a unit price as if set now in the cart's scope; repeat",
)
@click.option("--reserve", is_flag=True, help="hold the stock in inventory for the quote")
@call_options(SERVICE, mutation=True)
def quote(
    call: Call,
    currency: str,
    lines: tuple[tuple[str, int], ...],
    channel: str,
    group: str,
    at: datetime | None,
    country: str,
    codes: tuple[str, ...],
    customer: str,
    taxes: tuple[str, ...],
    explain: bool,
    dry_run: bool,
    drafts: tuple[str, ...],
    pending: tuple[str, ...],
    reserve: bool,
) -> None:
    """Quote a cart: CURRENCY SKU=QTY ... (availability asked of inventory)."""
    rates = tax_rates(taxes)
    request = pb.QuoteRequest(
        currency_code=currency,
        channel=channel,
        customer_group=group,
        request_id=call.new_request_id(),
        lines=[
            pb.CartLine(sku=sku, quantity=quantity, tax_rates=rates.get(sku, []))
            for sku, quantity in lines
        ],
        country=country,
        discount_codes=list(codes),
        customer_id=customer,
        explain=explain,
        dry_run=dry_run,
        draft_price_list_ids=list(drafts),
        pending_prices=[
            pb.SetPriceRequest(
                sku=sku,
                unit_price=money(amount, currency),
                channel=channel,
                customer_group=group,
                country=country,
            )
            for sku, amount in (sku_amount(entry, "--pending-price") for entry in pending)
        ],
        reserve=reserve,
    )
    set_time(request.price_time, at)
    unary(call, "Quote", request)


@group.command("get-quote")
@click.argument("quote_id")
@call_options(SERVICE)
def get_quote(call: Call, quote_id: str) -> None:
    """Show a quote made earlier."""
    unary(call, "GetQuote", pb.GetQuoteRequest(quote_id=quote_id))
