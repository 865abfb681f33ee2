"""WatchStock streams every change of the watched SKUs and resumes without a gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from stockroom.common.errors import NotFound
from stockroom.inventory.testing import Inventory
from stockroom.inventory.v1 import inventory_pb2 as pb


async def take(stream: AsyncIterator[pb.WatchStockResponse], count: int) -> list[pb.Movement]:
    """The next ``count`` movements of ``stream`` (bounded by the test timeout)."""
    taken: list[pb.Movement] = []
    async for response in stream:
        taken.extend(response.movements)
        if len(taken) >= count:
            break
    return taken


async def test_a_watcher_sees_past_and_new_changes_of_its_skus_only(inventory: Inventory) -> None:
    await inventory.register(["MUG", "TEE"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 5)
    await inventory.receive("TEE", "WH-1", 5)
    call = inventory.stub.WatchStock(pb.WatchStockRequest(skus=["MUG"]))
    stream = call.__aiter__()

    past = await take(stream, 1)
    await inventory.reserve({"MUG": 2, "TEE": 1})
    new = await take(stream, 1)
    call.cancel()

    assert [(m.kind, m.level.on_hand, m.level.reserved) for m in past + new] == [
        (pb.MOVEMENT_KIND_RECEIPT, 5, 0),
        (pb.MOVEMENT_KIND_RESERVATION, 5, 2),
    ]


async def test_a_watcher_that_reconnects_after_its_last_sequence_misses_nothing(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    first = inventory.stub.WatchStock(pb.WatchStockRequest(skus=["MUG"]))
    stream = first.__aiter__()
    await inventory.receive("MUG", "WH-1", 1)
    seen = await take(stream, 1)
    first.cancel()

    # Changes while the watcher is away, some by concurrent writers.
    await asyncio.gather(*(inventory.receive("MUG", "WH-1", n) for n in range(2, 12)))
    second = inventory.stub.WatchStock(
        pb.WatchStockRequest(skus=["MUG"], after_sequence=seen[-1].sequence)
    )
    stream = second.__aiter__()
    resumed_now = await take(stream, 10)
    await inventory.receive("MUG", "WH-1", 100)
    resumed_later = await take(stream, 1)
    second.cancel()

    everything = seen + resumed_now + resumed_later
    assert [m.sequence for m in everything] == sorted({m.sequence for m in everything})
    assert len(everything) == 12
    assert sorted(m.on_hand_delta for m in everything) == [*range(1, 12), 100]
    assert everything[-1].level.on_hand == sum(range(1, 12)) + 100


async def test_watching_an_unknown_sku_is_not_found(inventory: Inventory) -> None:
    call = inventory.stub.WatchStock(pb.WatchStockRequest(skus=["NOPE"]))

    with pytest.raises(NotFound) as raised:
        await take(call.__aiter__(), 1)

    assert raised.value.resource is not None
    assert raised.value.resource.resource_name == "NOPE"


async def test_a_watcher_of_no_sku_sees_every_sku_and_resumes_without_a_gap(
    inventory: Inventory,
) -> None:
    await inventory.register(["MUG", "TEE", "CAP"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 1)
    first = inventory.stub.WatchStock(pb.WatchStockRequest())
    stream = first.__aiter__()
    seen = await take(stream, 1)
    await inventory.receive("TEE", "WH-1", 2)
    seen += await take(stream, 1)
    first.cancel()

    # SKUs registered and changed while nobody watches, some by concurrent writers.
    await inventory.register(["HAT"], [])
    await asyncio.gather(
        *(inventory.receive(sku, "WH-1", n) for n, sku in enumerate(["CAP", "HAT", "MUG"], 3))
    )
    second = inventory.stub.WatchStock(pb.WatchStockRequest(after_sequence=seen[-1].sequence))
    stream = second.__aiter__()
    resumed = await take(stream, 3)
    await inventory.reserve({"HAT": 1})
    resumed += await take(stream, 1)
    second.cancel()

    everything = seen + resumed
    assert [m.sequence for m in everything] == sorted({m.sequence for m in everything})
    assert [(m.sku, m.on_hand_delta) for m in everything[:2]] == [("MUG", 1), ("TEE", 2)]
    assert sorted((m.sku, m.on_hand_delta) for m in everything[2:5]) == [
        ("CAP", 3),
        ("HAT", 4),
        ("MUG", 5),
    ]
    assert (everything[5].sku, everything[5].kind) == ("HAT", pb.MOVEMENT_KIND_RESERVATION)
