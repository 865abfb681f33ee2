"""Bulk price writes: many SetPrice rows in one call or one stream, a result per row.

Each row is recorded as ``SetPrice`` records it (its own transaction, its own
request id), so a bad row fails alone and a retried or restarted import
records each row once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from stockroom.common.errors import InvalidArgument, StockroomError
from stockroom.pricing.api.keys import optional_key
from stockroom.pricing.api.prices import new_price, price_message
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.price_book import PriceBook
from stockroom.pricing.v1 import pricing_pb2 as pb

MAX_ROWS_PER_CALL = 1000


def check_batch(rows: Sequence[pb.SetPriceRequest]) -> None:
    if len(rows) > MAX_ROWS_PER_CALL:
        raise InvalidArgument(
            f"at most {MAX_ROWS_PER_CALL} prices per call or batch",
            reason="TOO_MANY",
            domain=DOMAIN,
        )


async def record_rows(
    book: PriceBook, rows: Sequence[pb.SetPriceRequest], first_index: int = 0
) -> list[pb.PriceRowResult]:
    results = []
    for offset, row in enumerate(rows):
        index = first_index + offset
        try:
            version = await book.set_price(new_price(row), optional_key("SetPrice", row))
        except StockroomError as error:
            if error.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "UNKNOWN"):
                raise  # not the row's fault: the call fails, and a retry records once
            results.append(
                pb.PriceRowResult(
                    index=index,
                    error_reason=error.reason,
                    error_message=error.message,
                    error_fields=[v.field for v in error.field_violations],
                )
            )
            continue
        results.append(pb.PriceRowResult(index=index, price=price_message(version)))
    return results


async def import_prices(
    book: PriceBook, batches: AsyncIterator[pb.ImportPricesRequest]
) -> AsyncIterator[pb.ImportPricesResponse]:
    received = recorded = failed = 0
    async for batch in batches:
        check_batch(batch.prices)
        results = await record_rows(book, batch.prices, received)
        received += len(results)
        failures = [r for r in results if r.error_reason]
        failed += len(failures)
        recorded += len(results) - len(failures)
        yield pb.ImportPricesResponse(
            received=received, recorded=recorded, failed=failed, failures=failures
        )
