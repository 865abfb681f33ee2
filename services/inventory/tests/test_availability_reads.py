"""Coalesced CheckAvailability reads: each call decides on its own SKUs' rows only."""

from __future__ import annotations

import asyncio
from typing import Any

from stockroom.common.db import BatchSettings
from stockroom.inventory.domain.model import KitComponent, StockLevel
from stockroom.inventory.service.availability import AvailabilityReads
from stockroom.inventory.store.kits import PromiseRead

LEVELS = [
    StockLevel(sku, location, on_hand=10, reserved=0, safety_stock=0, version=1)
    for sku in ("A", "B", "C", "D", "KIT-PART")
    for location in ("WH-1", "WH-2")
]
# KIT takes a sub-kit (SUB: one KIT-PART) and two A.
DEFINITIONS = {
    "KIT": (KitComponent("A", 2), KitComponent("SUB", 1)),
    "SUB": (KitComponent("KIT-PART", 1),),
}
EVERYTHING = PromiseRead({level.key: level for level in LEVELS}, DEFINITIONS, frozenset({"C", "D"}))


class GatedReads:
    """Stands in for ``Transactions``: the first read waits for ``opened``, so the calls
    that arrive meanwhile share the next read. Every read returns every row."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.reads = 0

    async def read(self, _work: Any) -> PromiseRead:
        self.reads += 1
        if self.reads == 1:
            await self.opened.wait()
        return EVERYTHING


def skus_of(read: PromiseRead) -> set[str]:
    return {key.sku for key in read.levels}


async def test_calls_that_share_a_read_each_get_only_their_own_skus_and_kit_parts() -> None:
    transactions = GatedReads()
    reads = AvailabilityReads(
        transactions,  # type: ignore[arg-type]
        BatchSettings(window_s=0.0, max_batch=512, max_in_flight=1),
    )
    first = asyncio.create_task(reads.of({"B"}))
    for _ in range(100):  # until the first read is in flight (and waits)
        if transactions.reads:
            break
        await asyncio.sleep(0)
    assert transactions.reads == 1
    shared = [asyncio.create_task(reads.of(skus)) for skus in ({"KIT"}, {"C"}, {"A", "D", "NEW"})]
    await asyncio.sleep(0)
    transactions.opened.set()
    alone = await first
    kit, c, several = await asyncio.gather(*shared)

    assert transactions.reads == 2  # the three later calls shared one read
    assert alone == EVERYTHING  # a read of its own is not cut down
    assert skus_of(kit) == {"A", "KIT-PART"}
    assert kit.definitions == DEFINITIONS
    assert kit.inactive == frozenset()
    assert skus_of(c) == {"C"}
    assert c.definitions == {}
    assert c.inactive == frozenset({"C"})
    assert skus_of(several) == {"A", "D"}
    assert several.inactive == frozenset({"D"})
    assert all(level == EVERYTHING.levels[key] for key, level in several.levels.items())
