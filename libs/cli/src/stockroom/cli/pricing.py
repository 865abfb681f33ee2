"""``stockroom pricing ...``: set prices, create promotions and quote carts from a shell.

Amounts are written as decimals (``12.50``) and converted to google.type.Money
exactly; percentages as ``12.5`` (basis points on the wire). Creates carry a
fresh request id, so a create this command sends once is recorded once.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from google.protobuf import timestamp_pb2
from google.type import money_pb2

from stockroom.cli import pricing_operations
from stockroom.common.client import connect
from stockroom.common.errors import StockroomError
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

NANOS_PER_UNIT = 1_000_000_000
MODES = {"volume": pb.TIERS_MODE_VOLUME, "graduated": pb.TIERS_MODE_GRADUATED}
Stub = Any  # pb_grpc.PricingServiceAsyncStub exists only for type checkers
Command = Callable[[Stub, argparse.Namespace], Awaitable[None]]


def add_parser(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pricing = subcommands.add_parser("pricing", help="talk to the pricing service")
    pricing.add_argument("--target", default="127.0.0.1:50052", help="pricing's host:port")
    pricing.add_argument("--timeout", type=float, default=5.0, help="seconds per call")
    actions = pricing.add_subparsers(dest="action", required=True)

    set_price = _action(actions, "set-price", "record a price (per unit or tiered)", _set_price)
    set_price.add_argument("sku")
    set_price.add_argument("currency")
    set_price.add_argument("amount", nargs="?", help="unit price, e.g. 12.50")
    set_price.add_argument(
        "--tier",
        action="append",
        default=[],
        metavar="UP_TO:AMOUNT[:FLAT]",
        help="a tier (UP_TO 0 for 'and above'); repeat in order",
    )
    set_price.add_argument("--mode", choices=sorted(MODES), help="how tiers charge")
    _scope_arguments(set_price)
    set_price.add_argument("--from", dest="valid_from", type=_moment, help="ISO 8601 start")
    set_price.add_argument("--until", dest="valid_until", type=_moment, help="ISO 8601 end")

    get_price = _action(actions, "get-price", "the price in effect", _get_price)
    get_price.add_argument("sku")
    get_price.add_argument("currency")
    _scope_arguments(get_price)
    get_price.add_argument("--at", type=_moment, help="ISO 8601 moment (default now)")

    history = _action(actions, "history", "every price version of a SKU", _history)
    history.add_argument("sku")
    history.add_argument("--currency", default="")

    promote = _action(actions, "create-promotion", "create a promotion", _create_promotion)
    promote.add_argument("name")
    discount = promote.add_mutually_exclusive_group(required=True)
    discount.add_argument("--percent", type=_percent, help="percentage off, e.g. 12.5")
    discount.add_argument("--amount-off", help="amount off each unit (SKUs) or the cart")
    promote.add_argument("--currency", default="")
    promote.add_argument("--sku", action="append", default=[], help="target SKU (else the cart)")
    promote.add_argument("--min-quantity", type=int, default=0)
    promote.add_argument("--min-subtotal")
    promote.add_argument("--from", dest="valid_from", type=_moment)
    promote.add_argument("--until", dest="valid_until", type=_moment)

    listing = _action(actions, "promotions", "list promotions", _promotions)
    listing.add_argument("--active-at", type=_moment)

    quote = _action(actions, "quote", "quote a cart", _quote)
    quote.add_argument("currency")
    quote.add_argument("lines", nargs="+", metavar="SKU=QUANTITY")
    _scope_arguments(quote)
    quote.add_argument("--at", type=_moment, help="price at this ISO 8601 moment")

    get_quote = _action(actions, "get-quote", "show a quote made earlier", _get_quote)
    get_quote.add_argument("quote_id")
    quote.add_argument("--country", default="", help="country or region, e.g. CH, US-CA")
    quote.add_argument("--code", action="append", default=[], help="a discount code; repeat")
    quote.add_argument("--customer", default="", help="customer id (per-customer limits)")
    quote.add_argument(
        "--tax", action="append", default=[], metavar="SKU:RATE", help="e.g. MUG:8.1"
    )
    quote.add_argument("--explain", action="store_true", help="explain each line")
    quote.add_argument("--dry-run", action="store_true", help="store nothing")
    quote.add_argument("--reserve", action="store_true", help="hold the stock in inventory")
    set_price.add_argument("--country", default="", help="country or region price list")
    set_price.add_argument("--tax-inclusive", action="store_true", help="amounts include tax")
    listing.add_argument("--state", action="append", default=[], help="active, paused, ...")
    pricing_operations.add_actions(actions, _action)


def _action(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    command: Command,
) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=help_text)
    parser.set_defaults(handler=lambda args: asyncio.run(_run(command, args)))
    return parser


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channel", default="", help="sales channel price list")
    parser.add_argument("--group", default="", help="customer group price list")


async def _run(command: Command, args: argparse.Namespace) -> int:
    async with connect(args.target) as channel:
        try:
            await command(pb_grpc.PricingServiceStub(channel), args)
        except ValueError as error:
            print(f"error: {error}")
            return 2
        except StockroomError as error:
            print(f"error: {error.code} {error.reason}: {error.message}")
            for violation in error.field_violations:
                print(f"  {violation.field}: {violation.description} ({violation.reason})")
            return 1
    return 0


async def _set_price(stub: Stub, args: argparse.Namespace) -> None:
    request = pb.SetPriceRequest(
        sku=args.sku,
        request_id=str(uuid.uuid4()),
        channel=args.channel,
        customer_group=args.group,
        tiers_mode=MODES.get(args.mode or "", pb.TIERS_MODE_UNSPECIFIED),
        country=args.country,
        tax_inclusive=args.tax_inclusive,
    )
    if args.amount is not None:
        request.unit_price.CopyFrom(money(args.amount, args.currency))
    for tier in args.tier:
        up_to, amount, *flat = tier.split(":")
        request.tiers.append(
            pb.PriceTier(
                up_to=int(up_to),
                unit_amount=money(amount, args.currency),
                flat_amount=money(flat[0] if flat else "0", args.currency),
            )
        )
    _set_time(request.valid_from, args.valid_from)
    _set_time(request.valid_until, args.valid_until)
    response = await stub.SetPrice(request, timeout=args.timeout)
    print(describe_price(response.price))


async def _get_price(stub: Stub, args: argparse.Namespace) -> None:
    request = pb.GetPriceRequest(
        sku=args.sku, currency_code=args.currency, channel=args.channel, customer_group=args.group
    )
    _set_time(request.price_time, args.at)
    print(describe_price((await stub.GetPrice(request, timeout=args.timeout)).price))


async def _history(stub: Stub, args: argparse.Namespace) -> None:
    page_token = ""
    for _ in range(10_000):  # pages of 500: far more history than a terminal shows
        request = pb.ListPricesRequest(
            sku=args.sku, currency_code=args.currency, page_size=500, page_token=page_token
        )
        response = await stub.ListPrices(request, timeout=args.timeout)
        for price in response.prices:
            print(describe_price(price))
        page_token = response.next_page_token
        if not page_token:
            return


async def _create_promotion(stub: Stub, args: argparse.Namespace) -> None:
    promotion = pb.Promotion(
        display_name=args.name,
        currency_code=args.currency,
        target=pb.PROMOTION_TARGET_SKUS if args.sku else pb.PROMOTION_TARGET_CART,
        skus=args.sku,
        minimum_quantity=args.min_quantity,
    )
    if args.percent is not None:
        promotion.basis_points_off = args.percent
    else:
        promotion.amount_off.CopyFrom(money(args.amount_off, args.currency))
    if args.min_subtotal:
        promotion.minimum_subtotal.CopyFrom(money(args.min_subtotal, args.currency))
    _set_time(promotion.valid_from, args.valid_from)
    _set_time(promotion.valid_until, args.valid_until)
    request = pb.CreatePromotionRequest(request_id=str(uuid.uuid4()), promotion=promotion)
    print(describe_promotion((await stub.CreatePromotion(request, timeout=args.timeout)).promotion))


async def _promotions(stub: Stub, args: argparse.Namespace) -> None:
    request = pb.ListPromotionsRequest(
        page_size=500,
        states=[pb.PromotionState.Value(f"PROMOTION_STATE_{s.upper()}") for s in args.state],
    )
    _set_time(request.active_time, args.active_at)
    for promotion in (await stub.ListPromotions(request, timeout=args.timeout)).promotions:
        print(describe_promotion(promotion))


async def _quote(stub: Stub, args: argparse.Namespace) -> None:
    request = pb.QuoteRequest(
        currency_code=args.currency,
        channel=args.channel,
        customer_group=args.group,
        request_id=str(uuid.uuid4()),
        country=args.country,
        discount_codes=args.code,
        customer_id=args.customer,
        explain=args.explain,
        dry_run=args.dry_run,
        reserve=args.reserve,
    )
    rates: dict[str, list[pb.TaxRate]] = {}
    for entry in args.tax:
        sku, _, rate = entry.rpartition(":")
        rates.setdefault(sku, []).append(pb.TaxRate(name="tax", rate_percent=rate))
    for line in args.lines:
        sku, _, quantity = line.rpartition("=")
        request.lines.append(
            pb.CartLine(sku=sku, quantity=_quantity(quantity), tax_rates=rates.get(sku, []))
        )
    _set_time(request.price_time, args.at)
    print(describe_quote(await stub.Quote(request, timeout=args.timeout)))


async def _get_quote(stub: Stub, args: argparse.Namespace) -> None:
    request = pb.GetQuoteRequest(quote_id=args.quote_id)
    print(describe_quote((await stub.GetQuote(request, timeout=args.timeout)).quote))


def money(amount: str, currency_code: str) -> money_pb2.Money:
    """``12.50`` in ``USD`` as google.type.Money, exactly (the server checks the places)."""
    value = _decimal(amount)
    units = int(value)
    nanos = (value - units) * NANOS_PER_UNIT
    if nanos != nanos.to_integral_value():
        raise ValueError(f"{amount!r} has more than 9 decimal places")
    return money_pb2.Money(currency_code=currency_code, units=units, nanos=int(nanos))


def format_money(money_value: money_pb2.Money) -> str:
    amount = Decimal(money_value.units) + Decimal(money_value.nanos) / NANOS_PER_UNIT
    return f"{amount.normalize():f} {money_value.currency_code}"


def describe_price(price: pb.Price) -> str:
    scope = "/".join(filter(None, [price.currency_code, price.channel, price.customer_group]))
    if price.HasField("unit_price"):
        amount = format_money(price.unit_price)
    else:
        mode = pb.TiersMode.Name(price.tiers_mode).removeprefix("TIERS_MODE_").lower()
        steps = ", ".join(
            f"{'up to ' + str(t.up_to) if t.up_to else 'above'}: {format_money(t.unit_amount)}"
            + (
                f" + {format_money(t.flat_amount)}"
                if t.flat_amount.units or t.flat_amount.nanos
                else ""
            )
            for t in price.tiers
        )
        amount = f"{mode} [{steps}]"
    until = price.valid_until.ToJsonString() if price.HasField("valid_until") else "open-ended"
    return (
        f"price {price.price_id}  {price.sku}  {scope}  {amount}"
        f"  from {price.valid_from.ToJsonString()} until {until}"
    )


def describe_promotion(promotion: pb.Promotion) -> str:
    if promotion.HasField("basis_points_off"):
        off = f"{Decimal(promotion.basis_points_off) / 100:f} % off"
    else:
        off = f"{format_money(promotion.amount_off)} off"
    target = ", ".join(promotion.skus) if promotion.skus else "the cart"
    return f"promotion {promotion.promotion_id}  {promotion.display_name!r}  {off} {target}"


def describe_quote(quote: pb.QuoteResponse) -> str:
    lines = [f"quote {quote.quote_id} (expires {quote.expire_time.ToJsonString()})"]
    for line in quote.lines:
        availability = pb.Availability.Name(line.availability).removeprefix("AVAILABILITY_")
        lines.append(
            f"  {line.sku:<12} {line.quantity:>6}  {format_money(line.total):>16}"
            f"  net {format_money(line.net_total):>16}  {availability}"
        )
        lines.extend(f"      - {format_money(d.amount)}: {d.reason}" for d in line.discounts)
    lines.append(f"  subtotal {format_money(quote.subtotal)}")
    lines.append(f"  discounts {format_money(quote.discount_total)}")
    lines.append(f"  total {format_money(quote.total)}")
    if quote.HasField("tax_total") and quote.tax_total.tax.units + quote.tax_total.tax.nanos:
        lines.append(f"  tax {format_money(quote.tax_total.tax)}")
    if quote.HasField("amount_due"):
        lines.append(f"  amount due {format_money(quote.amount_due)}")
    lines.extend(
        f"  code {c.code}: {_short(pb.DiscountCodeStatus.Name(c.status))}"
        for c in quote.discount_codes
    )
    if quote.HasField("hold"):
        held = quote.hold.reservation_id or f"nothing ({quote.hold.reason})"
        lines.append(f"  stock held: {held}")
    for line in quote.lines:
        if line.HasField("explanation"):
            lines.append(
                f"  {line.sku}: {line.explanation.price.fallback}; {line.explanation.tiers}"
            )
            lines.extend(
                f"    {p.display_name}: {_short(pb.PromotionOutcome.Name(p.outcome))} ({p.reason})"
                for p in line.explanation.promotions
            )
    if quote.availability_reason:
        lines.append(f"  availability unknown: {quote.availability_note}")
    return "\n".join(lines)


def _short(enum_name: str) -> str:
    """APPLIED for DISCOUNT_CODE_STATUS_APPLIED: the value without its enum's prefix."""
    for prefix in ("DISCOUNT_CODE_STATUS_", "PROMOTION_OUTCOME_"):
        enum_name = enum_name.removeprefix(prefix)
    return enum_name


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} needs a time zone, e.g. 2026-12-01T00:00Z")
    return moment


def _percent(text: str) -> int:
    basis_points = _decimal(text) * 100
    if basis_points != basis_points.to_integral_value():
        raise ValueError(f"{text!r}: at most two decimal places")
    return int(basis_points)


def _quantity(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a quantity") from None


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _set_time(field: timestamp_pb2.Timestamp, moment: datetime | None) -> None:
    if moment is not None:
        field.FromDatetime(moment)
