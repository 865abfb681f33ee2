"""Bulk changes: BatchAdjustStock and the ImportStock stream. Each row is set or added on
its own, compare-and-set on on-hand or the etag, idempotent by its own request id, with its
own result; a bad row never fails another."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stockroom.common.errors import InvalidArgument
from stockroom.inventory.testing import Inventory, request_id
from stockroom.inventory.v1 import inventory_pb2 as pb


def row(sku: str, location: str = "WH-1", **fields: object) -> pb.StockAdjustmentRow:
    values: dict[str, object] = {"reason": "CYCLE_COUNT", "request_id": request_id()}
    values.update(fields)
    return pb.StockAdjustmentRow(sku=sku, location_id=location, **values)  # type: ignore[arg-type]


def outcome(result: pb.StockAdjustmentResult) -> tuple[str, str]:
    return result.error_code, result.error_reason


async def test_each_row_succeeds_or_fails_on_its_own(inventory: Inventory) -> None:
    await inventory.register(["MUG", "CUP", "PLATE"], ["WH-1", "WH-2"])
    await inventory.receive("MUG", "WH-1", 10)
    await inventory.receive("CUP", "WH-1", 10)
    await inventory.reserve({"CUP": 6})
    etag = (await inventory.level("MUG", "WH-1")).etag
    rows = [
        row("MUG", set_on_hand=12, expected_on_hand=10, etag=etag),  # applied: 10 -> 12
        row("MUG", "WH-2", add_on_hand=5),  # a new level
        row("CUP", add_on_hand=-5),  # would leave 5 < 6 reserved
        row("MUG", set_on_hand=1, expected_on_hand=10),  # on hand is 12 by now
        row("MUG", add_on_hand=1, etag=etag),  # the etag moved with the first row
        row("GHOST", set_on_hand=1),
        row("PLATE", set_on_hand=-1, reason=""),  # invalid: two fields
        row("PLATE", set_on_hand=3),
        row("CUP", add_on_hand=-4),  # 10 - 4 = 6 = reserved: allowed
    ]

    response = await inventory.stub.BatchAdjustStock(pb.BatchAdjustStockRequest(rows=rows))

    results = response.results
    assert [r.index for r in results] == list(range(len(rows)))
    assert [r.request_id for r in results] == [r.request_id for r in rows]
    assert [outcome(r) for r in results] == [
        ("", ""),
        ("", ""),
        ("FAILED_PRECONDITION", "BELOW_RESERVED"),
        ("ABORTED", "ON_HAND_CHANGED"),
        ("ABORTED", "ETAG_MISMATCH"),
        ("NOT_FOUND", "ITEM_NOT_FOUND"),
        ("INVALID_ARGUMENT", "INVALID_REQUEST"),
        ("", ""),
        ("", ""),
    ]
    assert set(results[6].error_fields) == {"set_on_hand", "reason"}
    assert (response.applied, response.failed) == (4, 5)
    assert [results[i].level.on_hand for i in (0, 1, 7, 8)] == [12, 5, 3, 6]
    assert [results[i].movement.on_hand_delta for i in (0, 1, 7, 8)] == [2, 5, 3, -4]
    assert {results[i].movement.kind for i in (0, 1, 7, 8)} == {pb.MOVEMENT_KIND_ADJUSTMENT}
    assert not results[2].HasField("level")
    assert (await inventory.level("MUG", "WH-1")).on_hand == 12
    assert (await inventory.level("CUP", "WH-1")).on_hand == 6


async def test_rows_sent_again_are_answered_from_their_records(inventory: Inventory) -> None:
    await inventory.register(["MUG"], ["WH-1"])
    await inventory.receive("MUG", "WH-1", 10)
    rows = [row("MUG", add_on_hand=3), row("MUG", add_on_hand=-1)]

    first = await inventory.stub.BatchAdjustStock(pb.BatchAdjustStockRequest(rows=rows))
    again = await inventory.stub.BatchAdjustStock(pb.BatchAdjustStockRequest(rows=rows))
    reused = rows[0].__deepcopy__()
    reused.add_on_hand = 4
    other = await inventory.stub.BatchAdjustStock(pb.BatchAdjustStockRequest(rows=[reused]))
    # The same row through the import: the same record answers.
    imported = [r async for r in inventory.stub.ImportStock(one_batch(rows[:1]))]

    assert again.results == first.results
    assert outcome(other.results[0]) == ("INVALID_ARGUMENT", "REQUEST_ID_REUSED")
    assert (imported[-1].applied, imported[-1].failed) == (1, 0)
    assert (await inventory.level("MUG", "WH-1")).on_hand == 12


async def one_batch(rows: list[pb.StockAdjustmentRow]) -> AsyncIterator[pb.ImportStockRequest]:
    yield pb.ImportStockRequest(rows=rows)


async def test_an_import_streams_batches_and_reports_progress_and_refused_rows(
    inventory: Inventory,
) -> None:
    skus = [f"SKU-{n}" for n in range(5)]
    await inventory.register(skus, ["WH-1", "WH-2"])

    async def batches() -> AsyncIterator[pb.ImportStockRequest]:
        for start in range(0, 600, 200):
            yield pb.ImportStockRequest(
                rows=[
                    row(
                        "GHOST" if n % 97 == 0 else skus[n % 5],
                        ["WH-1", "WH-2"][n % 2],
                        add_on_hand=1,
                    )
                    for n in range(start, start + 200)
                ]
            )
        yield pb.ImportStockRequest()  # an empty batch is fine

    progress = [p async for p in inventory.stub.ImportStock(batches())]

    refused = [f.index for p in progress for f in p.failures]
    assert [(p.received, p.applied + p.failed) for p in progress] == [
        (200, 200),
        (400, 400),
        (600, 600),
        (600, 600),
    ]
    assert refused == [n for n in range(600) if n % 97 == 0]
    assert {f.error_reason for p in progress for f in p.failures} == {"ITEM_NOT_FOUND"}
    assert progress[-1].applied == 600 - len(refused)
    stock = await inventory.stub.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=skus))
    assert sum(s.on_hand for s in stock.skus) == 600 - len(refused)


async def test_too_many_or_no_rows_are_refused_whole(inventory: Inventory) -> None:
    with pytest.raises(InvalidArgument) as empty:
        await inventory.stub.BatchAdjustStock(pb.BatchAdjustStockRequest())
    with pytest.raises(InvalidArgument) as many:
        await inventory.stub.BatchAdjustStock(
            pb.BatchAdjustStockRequest(rows=[row("MUG", set_on_hand=1)] * 1001)
        )

    assert [(v.field, v.reason) for v in empty.value.field_violations] == [("rows", "EMPTY")]
    assert [(v.field, v.reason) for v in many.value.field_violations] == [("rows", "TOO_MANY")]
