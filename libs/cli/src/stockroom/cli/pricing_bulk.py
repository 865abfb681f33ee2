"""``stockroom pricing ...`` commands for many prices at once: ``set-prices`` (one call),
``import`` (a CSV streamed through ImportPrices, in batches, with a progress bar) and
``list-prices`` (one page of a whole price list).

Registered on the pricing group by ``stockroom.cli.main``. ``import`` sends the file in
one stream; the server records each row on its own (its own request id, so a restarted
import records each row once) and answers each batch with the progress so far and the
rows it refused, which move the bar and end up in the result.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
import grpc

from stockroom.cli.calls import Call, call_options
from stockroom.cli.failures import EXIT_USAGE, Failure
from stockroom.cli.output import to_data
from stockroom.cli.pricing import SERVICE, money, scope_options, sku_amount, stub, unary
from stockroom.cli.progress import progress_bar
from stockroom.pricing.v1 import pricing_pb2 as pb

# Rows per ImportPrices batch: each batch is answered with progress, which moves the bar.
BATCH = 200
HEADER = ["sku", "currency", "amount"]
# An import may take much longer than one call: its stream gets this many call timeouts.
IMPORT_TIMEOUTS = 60


def price_row(
    call: Call,
    sku: str,
    currency: str,
    amount: str,
    scope: Sequence[str],
    price_list: str = "",
) -> pb.SetPriceRequest:
    """One unit price with its list (channel, customer group, country; or a list id) and
    its own request id."""
    channel, group, country = [*(s.strip() for s in scope), "", "", ""][:3]
    try:
        unit_price = money(Decimal(amount.strip()), currency.strip())
    except InvalidOperation:
        raise click.BadParameter(f"{amount!r} is not a decimal number (e.g. 12.50)") from None
    return pb.SetPriceRequest(
        sku=sku.strip(),
        unit_price=unit_price,
        channel=channel,
        customer_group=group,
        country=country,
        price_list_id=price_list,
        request_id=call.new_request_id(),
    )


@click.command("set-prices")
@click.argument("currency")
@click.argument("prices", nargs=-1, required=True, metavar="SKU=AMOUNT...")
@scope_options
@click.option("--country", default="", help="country or region price list")
@call_options(SERVICE)
def set_prices(
    call: Call, currency: str, prices: tuple[str, ...], channel: str, group: str, country: str
) -> None:
    """Record many unit prices in one call; each row succeeds or fails on its own."""
    rows = []
    for entry in prices:
        sku, amount = sku_amount(entry, "PRICES")
        rows.append(price_row(call, sku, currency, str(amount), [channel, group, country]))
    unary(call, "SetPrices", pb.SetPricesRequest(prices=rows), "results")


@click.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "price_list", default="", help="every row into this price list id")
@call_options(SERVICE)
def import_prices(call: Call, csv_file: Path, price_list: str) -> None:
    """Import unit prices from a CSV file through one ImportPrices stream, with a progress
    bar: sku,currency,amount[,channel,group,country] (a header row and '#' comments are
    skipped). Refused rows are listed in the result; the others are recorded."""
    rows = []
    with csv_file.open(newline="") as handle:
        for number, record in enumerate(csv.reader(handle), start=1):
            if not record or record[0].startswith("#") or record[:3] == HEADER:
                continue
            if len(record) < 3:
                raise Failure(
                    f"{csv_file}, line {number}: expected sku,currency,amount", EXIT_USAGE
                )
            try:
                rows.append(
                    price_row(call, record[0], record[1], record[2], record[3:], price_list)
                )
            except click.BadParameter as error:
                raise Failure(f"{csv_file}, line {number}: {error.message}", EXIT_USAGE) from None

    async def batches() -> AsyncIterator[pb.ImportPricesRequest]:
        for start in range(0, len(rows), BATCH):
            yield pb.ImportPricesRequest(prices=rows[start : start + BATCH])

    async def send(channel: grpc.aio.Channel) -> dict[str, Any]:
        summary: dict[str, Any] = {"received": 0, "recorded": 0, "failed": 0, "failures": []}
        stream = stub(channel).ImportPrices(batches(), timeout=call.timeout_s * IMPORT_TIMEOUTS)
        with progress_bar("importing prices", total=len(rows)) as advance:
            async for progress in stream:
                data = to_data(progress)
                advance(data["received"] - summary["received"])
                summary.update(received=data["received"], recorded=data["recorded"])
                summary["failed"] = data["failed"]
                summary["failures"].extend(data["failures"])
        return summary

    call.printer.result(call.run(send))


@click.command("list-prices")
@click.argument("currency", required=False, default="")
@scope_options
@click.option("--country", default="", help="country or region price list")
@click.option("--list", "price_list", default="", help="the price list id, instead of a scope")
@click.option("--page-size", type=click.IntRange(0, 500), default=100, show_default=True)
@click.option("--page-token", default="")
@call_options(SERVICE)
def list_prices(
    call: Call,
    currency: str,
    channel: str,
    group: str,
    country: str,
    price_list: str,
    page_size: int,
    page_token: str,
) -> None:
    """Every price of one price list (one page): CURRENCY and a scope (its active override
    list), or --list ID."""
    request = pb.ListPricesInListRequest(
        currency_code=currency,
        channel=channel,
        customer_group=group,
        country=country,
        price_list_id=price_list,
        page_size=page_size,
        page_token=page_token,
    )
    unary(call, "ListPricesInList", request, "prices")


COMMANDS = (set_prices, import_prices, list_prices)
