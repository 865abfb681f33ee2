"""``stockroom inventory ...`` commands for many levels at once: ``adjust-many`` (one
BatchAdjustStock call) and ``import`` (a CSV or JSON Lines file streamed through
ImportStock, with a progress bar).

Registered on the inventory group by ``stockroom.cli.main``. Every row has its own
request id: ``adjust-many --request-id X`` and ``import --import-id X`` derive them from X,
so running the same command again applies each row once. ``import`` reads the file once
to check every line and count the rows (nothing is sent if a line is bad), then streams
it in batches: memory holds a batch, never the file.
"""

from __future__ import annotations

import asyncio
import csv
import uuid
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import click
import grpc

from stockroom.cli.calls import Call, call_options
from stockroom.cli.failures import EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, Failure
from stockroom.cli.inventory import SERVICE, stub, unary
from stockroom.cli.output import to_data
from stockroom.cli.progress import progress_bar
from stockroom.cli.stock_files import FORMATS, BadRow, Defaults, file_format, read_rows
from stockroom.inventory.v1 import inventory_pb2 as pb

# Failures listed in an import's summary (the counts cover all of them).
SHOWN_FAILURES = 100


class StockChange(click.ParamType):  # type: ignore[type-arg]
    """``SKU@LOCATION=COUNT`` sets a count; ``SKU@LOCATION+=N`` / ``-=N`` adds or takes away."""

    name = "SKU@LOCATION=COUNT"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str, str, int]:
        if isinstance(value, tuple):
            return value
        target, sep, number = str(value).partition("=")
        operation = "set"
        if target.endswith(("+", "-")):
            operation, target = ("add" if target[-1] == "+" else "take"), target[:-1]
        sku, at, location = target.partition("@")
        if not sep or not at or not sku or not location:
            self.fail(f"{value!r} is not SKU@LOCATION=COUNT, +=N or -=N", param, ctx)
        try:
            quantity = int(number)
        except ValueError:
            self.fail(f"{value!r}: {number!r} is not a whole number", param, ctx)
        return sku, location, operation, quantity


STOCK_CHANGE = StockChange()


@click.command("adjust-many")
@click.argument("changes", nargs=-1, required=True, type=STOCK_CHANGE)
@click.option("--reason", required=True, help="why, e.g. CYCLE_COUNT")
@click.option("--reference", default="", help="e.g. a count sheet")
@call_options(SERVICE, mutation=True)
def adjust_many(
    call: Call, changes: tuple[tuple[str, str, str, int], ...], reason: str, reference: str
) -> None:
    """Set or adjust many levels in one call: MUG@WH-1=40 CUP@WH-1+=5 ...; each row is
    applied or refused on its own."""
    base = _uuid_or_new(call.request_id, "--request-id")
    rows = []
    for index, (sku, location, operation, quantity) in enumerate(changes):
        row = pb.StockAdjustmentRow(
            sku=sku,
            location_id=location,
            reason=reason,
            reference=reference,
            request_id=str(uuid.uuid5(base, str(index))),
        )
        if operation == "set":
            row.set_on_hand = quantity
        else:
            row.add_on_hand = quantity if operation == "add" else -quantity
        rows.append(row)
    unary(call, "BatchAdjustStock", pb.BatchAdjustStockRequest(rows=rows), "results")


def _uuid_or_new(value: str, option: str) -> uuid.UUID:
    if not value:
        return uuid.uuid4()
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Failure(f"{option} {value!r} is not a UUID", EXIT_USAGE) from None


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="default: by the file's suffix")
@click.option("--reason", default="import", show_default=True, help="for rows without one")
@click.option("--reference", default="", help="for rows without one")
@click.option(
    "--import-id",
    default="",
    help="a UUID naming this import; run again with it to apply each row once (default: new)",
)
@click.option("--register-missing", is_flag=True, help="register unknown SKUs and locations first")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=500, show_default=True)
@call_options(SERVICE)
def import_stock(
    call: Call,
    path: Path,
    fmt: str | None,
    reason: str,
    reference: str,
    import_id: str,
    register_missing: bool,
    batch_size: int,
) -> None:
    """Stream stock counts and adjustments from a CSV (with a header) or JSON Lines file:
    sku, location_id, on_hand (a count) or add (units; quantity works too), optional
    expected_on_hand, etag, reason, reference, request_id. Shows a progress bar; prints
    the counts and the refused rows (exit 1 if any was refused)."""
    fmt = file_format(path, fmt)
    defaults = Defaults(reason, reference, str(_uuid_or_new(import_id, "--import-id")))
    total, skus, locations = _check_file(path, fmt, defaults, register_missing)
    importer = _Import(call, path, fmt, defaults, batch_size)
    try:
        summary = call.guard(lambda: importer.run(total, skus, locations))
    except Failure as failure:
        failure.hint = (
            f"run it again with --import-id {defaults.import_id}: rows already applied are"
            " answered from their records, not applied twice"
        )
        raise
    call.printer.result(summary)
    if summary["failed"]:
        raise Failure(f"{summary['failed']} of {summary['rows']} rows were refused", EXIT_REFUSED)


def _check_file(
    path: Path, fmt: str, defaults: Defaults, collect: bool
) -> tuple[int, set[str], set[str]]:
    """Every line parsed once before anything is sent: the row count, and the SKUs and
    locations when they are to be registered."""
    total, skus, locations = 0, set[str](), set[str]()
    try:
        for found in read_rows(path, fmt, defaults):
            total += 1
            if collect:
                skus.add(found.row.sku)
                locations.add(found.row.location_id)
    except BadRow as error:
        raise Failure(f"{path}, {error}", EXIT_USAGE) from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise Failure(f"{path}: not a readable {fmt} file ({error})", EXIT_USAGE) from None
    return total, skus, locations


class _Import:
    """One import stream: batches out, progress in; failures mapped back to file lines."""

    def __init__(
        self, call: Call, path: Path, fmt: str, defaults: Defaults, batch_size: int
    ) -> None:
        self.call, self.path, self.fmt = call, path, fmt
        self.defaults, self.batch_size = defaults, batch_size
        # Line numbers of the batches sent and not answered yet (bounded by flow control).
        self.in_flight: deque[list[int]] = deque()

    async def run(self, total: int, skus: set[str], locations: set[str]) -> dict[str, Any]:
        channel = self.call.stream_channel()
        async with channel:
            try:
                await asyncio.wait_for(channel.channel_ready(), self.call.timeout_s)
            except TimeoutError:
                raise Failure(
                    f"{SERVICE} at {self.call.target} did not answer within"
                    f" {self.call.timeout_s:g} s",
                    EXIT_UNREACHABLE,
                ) from None
            inventory = stub(channel)
            created = await self._register(inventory, skus, locations)
            summary: dict[str, Any] = {
                "import_id": self.defaults.import_id,
                "rows": 0,
                "applied": 0,
                "failed": 0,
                "failures": [],
                **created,
            }
            with progress_bar(f"importing {self.path.name}", total=total) as advance:
                async for progress in inventory.ImportStock(self._batches()):
                    lines = self.in_flight.popleft()
                    advance(progress.received - summary["rows"])
                    summary.update(
                        rows=progress.received, applied=progress.applied, failed=progress.failed
                    )
                    first = progress.received - len(lines)
                    for failure in progress.failures:
                        if len(summary["failures"]) < SHOWN_FAILURES:
                            summary["failures"].append(
                                {"line": lines[failure.index - first], **to_data(failure)}
                            )
            return summary

    async def _batches(self) -> AsyncIterator[pb.ImportStockRequest]:
        rows: list[pb.StockAdjustmentRow] = []
        lines: list[int] = []
        for found in read_rows(self.path, self.fmt, self.defaults):
            rows.append(found.row)
            lines.append(found.line)
            if len(rows) == self.batch_size:
                self.in_flight.append(lines)
                yield pb.ImportStockRequest(rows=rows)
                rows, lines = [], []
        if rows:
            self.in_flight.append(lines)
            yield pb.ImportStockRequest(rows=rows)

    async def _register(
        self, inventory: Any, skus: set[str], locations: set[str]
    ) -> dict[str, int]:
        """CreateItem / CreateLocation for each (ALREADY_EXISTS is fine): the counts made."""
        created = {"items_created": 0, "locations_created": 0}
        requests: list[tuple[str, str, Any]] = [
            (
                "items_created",
                "CreateItem",
                pb.CreateItemRequest(item=pb.Item(sku=sku), request_id=str(uuid.uuid4())),
            )
            for sku in sorted(skus)
        ] + [
            (
                "locations_created",
                "CreateLocation",
                pb.CreateLocationRequest(
                    location=pb.Location(location_id=loc, kind=pb.LOCATION_KIND_WAREHOUSE),
                    request_id=str(uuid.uuid4()),
                ),
            )
            for loc in sorted(locations)
        ]
        for counter, method, request in requests:
            try:
                await getattr(inventory, method)(request, timeout=self.call.timeout_s)
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
                continue
            created[counter] += 1
        return created


COMMANDS = (adjust_many, import_stock)
