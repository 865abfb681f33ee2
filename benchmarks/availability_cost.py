"""What CheckAvailability's own Python costs per call, step by step, without gRPC or
the database.

python -m benchmarks.availability_cost [--calls 20000] [--batch 5]

In this process: ``make bench``'s CheckAvailability request (three lines) is
parsed, validated, given its share of a coalesced read shared by ``--batch``
such calls (the read's rows built in memory: 15 SKUs, two locations each),
decided by the domain's rules, and answered; each step runs ``--calls`` times
and reports its CPU per call (``time.process_time``, best of three rounds).
A change to these steps shows here in seconds, where ``make bench`` cannot tell
a few percent from this machine's noise. docs/performance.md (tenth pass) has
the numbers.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from benchmarks.services import AVAILABILITY_REQUEST, CART, LOCATIONS
from stockroom.inventory.api import requests
from stockroom.inventory.api.servicer import _line_availability
from stockroom.inventory.domain.model import AvailabilityCheck, StockLevel
from stockroom.inventory.service.availability import shares
from stockroom.inventory.service.stock import decide_availability
from stockroom.inventory.store.kits import PromiseRead
from stockroom.inventory.v1 import inventory_pb2 as pb

ROUNDS = 3


def cpu_per_call(label: str, calls: int, step: Callable[[], object], per: int = 1) -> None:
    """``step``'s CPU per call, best of ``ROUNDS``; ``per``: calls one step serves."""
    best = min(_timed(step, calls) for _ in range(ROUNDS))
    print(f"{label:<58} {1e6 * best / per:7.1f} us")


def _timed(step: Callable[[], object], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        step()
    return (time.process_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.availability_cost", description=__doc__
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5)
    args = parser.parse_args()

    levels = [
        StockLevel(f"SKU-{n:03d}", location_id, 10**9, 1_000, 0, 1)
        for n in range(15)
        for location_id in LOCATIONS
    ]
    read = PromiseRead({level.key: level for level in levels}, {}, frozenset())
    request = pb.CheckAvailabilityRequest.FromString(AVAILABILITY_REQUEST)
    lines, location_ids = requests.availability(request)
    check = AvailabilityCheck(tuple(lines), location_ids)
    calls = [frozenset(sku for sku, _ in CART)] * args.batch
    share = shares(read, calls)[0]
    answers = decide_availability(check, share).answers
    assert [a.sku for a in answers] == [sku for sku, _ in CART], answers
    assert all(a.satisfiable for a in answers), answers

    print(f"CPU of this process per CheckAvailability call ({args.calls} calls a step):")
    cpu_per_call(
        "parse the request",
        args.calls,
        lambda: pb.CheckAvailabilityRequest.FromString(AVAILABILITY_REQUEST),
    )
    cpu_per_call("validate it", args.calls, lambda: requests.availability(request))
    cpu_per_call(
        f"its share of a read shared by {args.batch} calls",
        args.calls // args.batch,
        lambda: shares(read, calls),
        per=args.batch,
    )
    cpu_per_call(
        "decide (rules.availability)", args.calls, lambda: decide_availability(check, share)
    )
    cpu_per_call(
        "build and serialize the answer",
        args.calls,
        lambda: pb.CheckAvailabilityResponse(
            lines=[_line_availability(a) for a in answers]
        ).SerializeToString(),
    )


if __name__ == "__main__":
    main()
