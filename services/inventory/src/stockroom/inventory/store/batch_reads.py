"""A batch's optimistic read in one statement: the levels of its SKUs and the records of
its request ids (one round trip instead of two)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    LargeBinary,
    String,
    cast,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DIALECTS, one_of
from stockroom.inventory.domain.decide import Record
from stockroom.inventory.domain.model import StockKey, StockLevel
from stockroom.inventory.store.tables import request_records, stock_levels


def _statement(dialect: str) -> CompoundSelect[Any]:
    level, record = stock_levels.c, request_records.c
    levels = select(
        literal("level").label("kind"),
        level.sku.label("id"),
        level.location_id,
        level.on_hand,
        level.reserved,
        level.safety_stock,
        level.version,
        level.damaged,
        level.quality_control,
        level.reorder_point,
        cast(null(), String).label("method"),
        cast(null(), String).label("fingerprint"),
        cast(null(), LargeBinary).label("response"),
    ).where(one_of(level.sku, "skus", dialect))
    records = select(
        literal("record"),
        record.request_id,
        cast(null(), String),
        cast(null(), BigInteger),
        cast(null(), BigInteger),
        cast(null(), BigInteger),
        cast(null(), BigInteger),
        cast(null(), BigInteger),
        cast(null(), BigInteger),
        cast(null(), BigInteger),
        record.method,
        record.fingerprint,
        record.response,
    ).where(one_of(record.request_id, "ids", dialect))
    return union_all(levels, records)


_READ = {dialect: _statement(dialect) for dialect in DIALECTS}


async def levels_and_records(
    connection: AsyncConnection, skus: Iterable[str], request_ids: Iterable[str]
) -> tuple[dict[StockKey, StockLevel], dict[str, Record]]:
    rows: Any = await connection.execute(
        _READ[connection.dialect.name],
        {"skus": sorted(set(skus)), "ids": sorted(set(request_ids))},
    )
    levels: dict[StockKey, StockLevel] = {}
    records: dict[str, Record] = {}
    for (
        kind,
        id_,
        location_id,
        on_hand,
        reserved,
        safety,
        version,
        damaged,
        quality_control,
        reorder_point,
        method,
        fingerprint,
        response,
    ) in rows:
        if kind == "level":
            levels[StockKey(id_, location_id)] = StockLevel(
                id_,
                location_id,
                on_hand,
                reserved,
                safety,
                version,
                damaged,
                quality_control,
                reorder_point,
            )
        elif response is not None:
            records[id_] = Record(method, fingerprint, bytes(response))
    return dict(sorted(levels.items())), records
