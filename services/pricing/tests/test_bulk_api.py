"""Bulk prices over real gRPC: many rows in one call, a streamed import with progress,
and every price of a list, paged."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from google.type import money_pb2

from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

from .test_api import usd


def row(sku: str, units: int, nanos: int = 0, **fields: str) -> pb.SetPriceRequest:
    return pb.SetPriceRequest(
        sku=sku,
        unit_price=money_pb2.Money(currency_code="USD", units=units, nanos=nanos),
        request_id=str(uuid.uuid4()),
        **fields,  # type: ignore[arg-type]
    )


async def test_set_prices_answers_per_row_and_a_retry_records_nothing_twice(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    request = pb.SetPricesRequest(
        prices=[row("MUG", 10), row("TEE", 5, 5_000_000), row("CAP", 7, channel="web")]
    )

    first = await pricing.SetPrices(request)
    retried = await pricing.SetPrices(request)
    history = await pricing.ListPrices(pb.ListPricesRequest(sku="MUG"))

    assert (first.recorded, first.failed) == (2, 1)
    assert [r.error_reason for r in first.results] == ["", "TOO_PRECISE", ""]
    assert first.results[1].error_fields == ["unit_price"]
    assert [r.price.price_id for r in retried.results] == [r.price.price_id for r in first.results]
    assert len(history.prices) == 1


async def test_an_import_streams_progress_and_a_list_pages_through_every_price(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    rows = [row(f"SKU-{i:03}", 1 + i) for i in range(25)]
    rows[7] = row("SKU-007", -1)

    async def batches() -> AsyncIterator[pb.ImportPricesRequest]:
        for start in range(0, len(rows), 10):
            yield pb.ImportPricesRequest(prices=rows[start : start + 10])

    progress = [p async for p in pricing.ImportPrices(batches())]
    await pricing.SetPrice(pb.SetPriceRequest(sku="OTHER", unit_price=usd(1), channel="web"))
    listed: list[pb.Price] = []
    token = ""
    for _ in range(10):
        page = await pricing.ListPricesInList(
            pb.ListPricesInListRequest(currency_code="USD", page_size=10, page_token=token)
        )
        listed.extend(page.prices)
        token = page.next_page_token
        if not token:
            break

    assert [(p.received, p.recorded, p.failed) for p in progress] == [
        (10, 9, 1),
        (20, 19, 1),
        (25, 24, 1),
    ]
    assert [(f.index, f.error_reason) for f in progress[0].failures] == [(7, "NEGATIVE")]
    assert [p.sku for p in listed] == [f"SKU-{i:03}" for i in range(25) if i != 7]
