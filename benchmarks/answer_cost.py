"""What building an answer costs per call, without gRPC or the database.

python -m benchmarks.answer_cost [--calls 20000]

In this process: the answer to ``make bench``'s Quote (three lines priced from
plain prices, as the bench seeds them) and to a one-line ReserveStock are built
from their domain values and serialized, ``--calls`` times each; the CPU per
call is the best of three rounds (``time.process_time``). docs/performance.md
(fifteenth pass) has the numbers before and after answers were built in place.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime, timedelta

from benchmarks.availability_cost import cpu_per_call
from benchmarks.services import CART
from stockroom.inventory.api import responses
from stockroom.inventory.domain.model import (
    Allocation,
    Reservation,
    ReservationLine,
    ReservationState,
)
from stockroom.inventory.v1 import inventory_pb2
from stockroom.pricing.api.quotes import quote_message
from stockroom.pricing.domain.prices import PriceListScope, PriceVersion
from stockroom.pricing.domain.quotes import CartLine, Quote, StockCheck, price_cart
from stockroom.pricing.domain.tiers import PriceSchedule

NOW = datetime(2026, 12, 1, 12, 0, 0, 123_456, tzinfo=UTC)
USD = PriceListScope("USD")


def a_quote() -> Quote:
    versions = {
        sku: PriceVersion(str(n), sku, USD, PriceSchedule.per_unit(1050 + 100 * n), NOW, None, NOW)
        for n, (sku, _) in enumerate(CART)
    }
    priced = price_cart([CartLine(sku, quantity) for sku, quantity in CART], versions, [], "USD")
    stock = StockCheck({sku: 100 for sku, _ in CART})
    return Quote(str(uuid.uuid4()), USD, NOW, NOW, NOW + timedelta(minutes=15), priced, stock)


def a_reservation() -> Reservation:
    line = ReservationLine("SKU-001", 1, (Allocation("SKU-001", "WH-1", 1),))
    return Reservation(
        str(uuid.uuid4()),
        ReservationState.ACTIVE,
        (line,),
        "",
        NOW,
        NOW + timedelta(minutes=15),
        NOW,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.answer_cost", description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    quote, reservation = a_quote(), a_reservation()
    cpu_per_call(
        "Quote, 3 lines: the answer, built and serialized",
        args.calls,
        lambda: quote_message(quote).SerializeToString(),
    )
    cpu_per_call(
        "ReserveStock, 1 line: the answer, built and serialized",
        args.calls,
        lambda: responses.reservation_answer(
            inventory_pb2.ReserveStockResponse, reservation
        ).SerializeToString(),
    )


if __name__ == "__main__":
    main()
