"""What a write batch remembers of the catalog, and what it hands the domain: only the
SKUs and locations its writes name, so a batch costs the same however many SKUs the
process has met (a copy of every SKU seen made each batch cost in proportion to the
catalog)."""

from __future__ import annotations

import pytest

from stockroom.common.db import create_engine
from stockroom.common.errors import NotFound
from stockroom.inventory.domain import decide as domain
from stockroom.inventory.domain.decide import Snapshot
from stockroom.inventory.domain.model import Receipt
from stockroom.inventory.service.writes import StockWrites
from stockroom.inventory.store.transactions import Transactions
from stockroom.inventory.testing import Inventory

SKUS = [f"SKU-{n}" for n in range(6)]


def receipt(sku: str, location_id: str = "WH-1") -> Receipt:
    return Receipt(sku, location_id, 1, "test", "")


async def test_a_batch_hands_the_domain_only_the_skus_and_locations_it_names(
    inventory: Inventory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await inventory.register(SKUS, ["WH-1", "WH-2"])
    seen: list[Snapshot] = []
    decide = domain.decide

    def recording(*args: object) -> domain.Decision:
        seen.append(args[1])  # type: ignore[arg-type]
        return decide(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(domain, "decide", recording)
    engine = create_engine(database_url)
    try:
        writes = StockWrites(Transactions(engine), inventory.clock)
        for sku in SKUS:  # the process meets every SKU, at WH-2
            await writes.submit(receipt(sku, "WH-2"), None)
        await writes.submit(receipt(SKUS[0]), None)
        assert seen[-1].items == {SKUS[0]}
        assert seen[-1].locations == {"WH-1"}
        # Remembered or not, what is not registered is still refused.
        with pytest.raises(NotFound):
            await writes.submit(receipt("NOT-REGISTERED"), None)
        assert seen[-1].items == frozenset()
        with pytest.raises(NotFound):
            await writes.submit(receipt(SKUS[1], "WH-9"), None)
        assert seen[-1].items == {SKUS[1]}
        assert seen[-1].locations == frozenset()
    finally:
        await engine.dispose()
