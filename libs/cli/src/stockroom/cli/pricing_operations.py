"""``stockroom pricing ...`` commands for promotion lifecycle, discount codes, redemptions
and bulk prices (registered by ``pricing.add_parser``).

Amounts and percentages are read as in ``pricing``; every write carries a fresh
request id, so a command sent once records once.
"""

from __future__ import annotations

import argparse
import csv
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from stockroom.pricing.v1 import pricing_pb2 as pb

Stub = Any
Command = Callable[[Stub, argparse.Namespace], Awaitable[None]]
AddAction = Callable[..., argparse.ArgumentParser]
BATCH = 1000


def add_actions(actions: Any, action: AddAction) -> None:
    """Register the commands with ``action(actions, name, help, command)``."""
    from stockroom.cli import pricing

    update = action(actions, "update-promotion", "change a promotion (a new version)", _update)
    update.add_argument("promotion_id")
    discount = update.add_mutually_exclusive_group()
    discount.add_argument("--percent", type=pricing._percent, help="new percentage off")
    discount.add_argument("--amount-off", help="new amount off")
    update.add_argument("--name", help="new display name")
    update.add_argument("--until", dest="valid_until", type=pricing._moment)
    update.add_argument("--max-uses", type=int, help="new usage limit (0: none)")
    update.add_argument("--requires-code", choices=["yes", "no"])
    update.add_argument("--expected-version", type=int, default=0)
    for name, verb in (("pause", "pause"), ("resume", "resume"), ("end", "end for good")):
        change = action(actions, f"{name}-promotion", f"{verb} a promotion", _lifecycle(name))
        change.add_argument("promotion_id")

    codes = action(actions, "create-codes", "add discount codes to a promotion", _create_codes)
    codes.add_argument("promotion_id")
    codes.add_argument("--code", action="append", default=[], help="a named code; repeat")
    codes.add_argument("--generate", type=int, default=0, help="this many random codes")
    codes.add_argument("--prefix", default="")
    codes.add_argument("--max-uses", type=int, default=0, help="uses per code (0: no limit)")

    redeem = action(actions, "redeem", "consume a quote's promotions (order placed)", _redeem)
    redeem.add_argument("quote_id")
    release = action(actions, "release", "give a redemption back (order cancelled)", _release)
    release.add_argument("redemption_id")

    many = action(actions, "set-prices", "record many unit prices in one call", _set_prices)
    many.add_argument("currency")
    many.add_argument("prices", nargs="+", metavar="SKU=AMOUNT")
    many.add_argument("--channel", default="")
    many.add_argument("--group", default="")
    many.add_argument("--country", default="")

    load = action(actions, "import-prices", "stream a CSV of prices in", _import_prices)
    load.add_argument("file", type=Path, help="CSV: sku,currency,amount[,channel,group,country]")

    listing = action(actions, "list-prices", "every price of one list, paged", _list_prices)
    listing.add_argument("currency")
    listing.add_argument("--channel", default="")
    listing.add_argument("--group", default="")
    listing.add_argument("--country", default="")


async def _update(stub: Stub, args: argparse.Namespace) -> None:
    from stockroom.cli.pricing import describe_promotion, money

    get = pb.GetPromotionRequest(promotion_id=args.promotion_id)
    promotion = (await stub.GetPromotion(get, timeout=args.timeout)).promotion
    promotion.ClearField("valid_from")  # a started promotion keeps its start
    if args.percent is not None:
        promotion.basis_points_off = args.percent
    if args.amount_off is not None:
        promotion.amount_off.CopyFrom(money(args.amount_off, promotion.currency_code))
    if args.name is not None:
        promotion.display_name = args.name
    if args.valid_until is not None:
        promotion.valid_until.FromDatetime(args.valid_until)
    if args.max_uses is not None:
        promotion.limits.max_uses = args.max_uses
    if args.requires_code is not None:
        promotion.requires_code = args.requires_code == "yes"
    request = pb.UpdatePromotionRequest(promotion=promotion, expected_version=args.expected_version)
    updated = (await stub.UpdatePromotion(request, timeout=args.timeout)).promotion
    print(f"{describe_promotion(updated)}  version {updated.version}")


def _lifecycle(name: str) -> Command:
    async def change(stub: Stub, args: argparse.Namespace) -> None:
        from stockroom.cli.pricing import describe_promotion

        method, request_type = {
            "pause": (stub.PausePromotion, pb.PausePromotionRequest),
            "resume": (stub.ResumePromotion, pb.ResumePromotionRequest),
            "end": (stub.EndPromotion, pb.EndPromotionRequest),
        }[name]
        response = await method(request_type(promotion_id=args.promotion_id), timeout=args.timeout)
        promotion = response.promotion
        state = pb.PromotionState.Name(promotion.state).removeprefix("PROMOTION_STATE_")
        print(f"{describe_promotion(promotion)}  {state}  version {promotion.version}")

    return change


async def _create_codes(stub: Stub, args: argparse.Namespace) -> None:
    request = pb.CreateDiscountCodesRequest(
        promotion_id=args.promotion_id,
        codes=args.code,
        generate_count=args.generate,
        prefix=args.prefix,
        max_uses_per_code=args.max_uses,
        request_id=str(uuid.uuid4()),
    )
    for code in (await stub.CreateDiscountCodes(request, timeout=args.timeout)).codes:
        print(code.code)


def describe_redemption(redemption: pb.Redemption) -> str:
    from stockroom.cli.pricing import format_money

    state = pb.RedemptionState.Name(redemption.state).removeprefix("REDEMPTION_STATE_")
    lines = [f"redemption {redemption.redemption_id}  quote {redemption.quote_id}  {state}"]
    lines.extend(
        f"  promotion {p.promotion_id}  {format_money(p.amount)}"
        + (f"  code {p.code}" if p.code else "")
        for p in redemption.promotions
    )
    return "\n".join(lines)


async def _redeem(stub: Stub, args: argparse.Namespace) -> None:
    request = pb.RedeemQuoteRequest(quote_id=args.quote_id, request_id=str(uuid.uuid4()))
    print(describe_redemption((await stub.RedeemQuote(request, timeout=args.timeout)).redemption))


async def _release(stub: Stub, args: argparse.Namespace) -> None:
    request = pb.ReleaseRedemptionRequest(redemption_id=args.redemption_id)
    response = await stub.ReleaseRedemption(request, timeout=args.timeout)
    print(describe_redemption(response.redemption))


def _row(sku: str, currency: str, amount: str, scope: list[str]) -> pb.SetPriceRequest:
    from stockroom.cli.pricing import money

    channel, group, country = ([*scope, "", "", ""])[:3]
    return pb.SetPriceRequest(
        sku=sku,
        unit_price=money(amount, currency),
        channel=channel,
        customer_group=group,
        country=country,
        request_id=str(uuid.uuid4()),
    )


def _print_results(results: Any) -> None:
    from stockroom.cli.pricing import describe_price

    for result in results:
        if result.error_reason:
            print(f"row {result.index}: {result.error_reason}: {result.error_message}")
        else:
            print(describe_price(result.price))


async def _set_prices(stub: Stub, args: argparse.Namespace) -> None:
    rows = []
    for entry in args.prices:
        sku, _, amount = entry.rpartition("=")
        rows.append(_row(sku, args.currency, amount, [args.channel, args.group, args.country]))
    response = await stub.SetPrices(pb.SetPricesRequest(prices=rows), timeout=args.timeout)
    _print_results(response.results)
    print(f"recorded {response.recorded}, failed {response.failed}")


async def _import_prices(stub: Stub, args: argparse.Namespace) -> None:
    with args.file.open(newline="") as source:
        rows = [
            _row(record[0], record[1], record[2], record[3:])
            for record in csv.reader(source)
            if record and not record[0].startswith("#")
        ]

    async def batches() -> AsyncIterator[pb.ImportPricesRequest]:
        for start in range(0, len(rows), BATCH):
            yield pb.ImportPricesRequest(prices=rows[start : start + BATCH])

    async for progress in stub.ImportPrices(batches(), timeout=args.timeout * 60):
        _print_results(progress.failures)
        print(f"{progress.received} rows: {progress.recorded} recorded, {progress.failed} failed")


async def _list_prices(stub: Stub, args: argparse.Namespace) -> None:
    from stockroom.cli.pricing import describe_price

    token = ""
    for _ in range(100_000):  # pages of 500
        request = pb.ListPricesInListRequest(
            currency_code=args.currency,
            channel=args.channel,
            customer_group=args.group,
            country=args.country,
            page_size=500,
            page_token=token,
        )
        response = await stub.ListPricesInList(request, timeout=args.timeout)
        for price in response.prices:
            print(describe_price(price))
        token = response.next_page_token
        if not token:
            return
