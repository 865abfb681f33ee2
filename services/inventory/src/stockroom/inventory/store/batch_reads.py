"""A batch's optimistic read in one statement: the levels and inventory policies of its
SKUs, the records of its request ids, and which of the SKUs it reserves are deactivated
(one round trip instead of four)."""

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

from stockroom.common.db import DIALECTS, DriverRead, UtcDateTime, one_of
from stockroom.inventory.domain.decide import Record
from stockroom.inventory.domain.model import ItemState, StockKey, StockLevel
from stockroom.inventory.domain.supply import InventoryPolicy, PolicyMode
from stockroom.inventory.store.levels import LEVEL_COLUMNS, level_from_row
from stockroom.inventory.store.tables import (
    inventory_policies,
    items,
    request_records,
    stock_levels,
)

_NUMBER, _TEXT, _TIME = BigInteger, String, UtcDateTime()


def _nulls(count: int) -> list[Any]:
    return [cast(null(), _NUMBER) for _ in range(count)]


def _statement(dialect: str) -> CompoundSelect[Any]:
    level, record, policy = stock_levels.c, request_records.c, inventory_policies.c
    # Rows of every kind share the levels' columns: kind, id (the SKU, a request id),
    # location, then the numbers; each kind says below what rides where.
    levels = select(
        literal("level").label("kind"),
        *LEVEL_COLUMNS,
        cast(null(), String).label("method"),
        cast(null(), String).label("fingerprint"),
        cast(null(), LargeBinary).label("response"),
        cast(null(), _TIME).label("time"),
        cast(null(), _TIME).label("updated"),
    ).where(one_of(level.sku, "skus", dialect))
    records = select(
        literal("record"),
        record.request_id,
        cast(null(), _TEXT),
        *_nulls(9),
        record.method,
        record.fingerprint,
        record.response,
        cast(null(), _TIME),
        cast(null(), _TIME),
    ).where(one_of(record.request_id, "ids", dialect))
    # A policy's limit travels as on_hand, its outstanding count as reserved, its mode as
    # method, its preorder date as time.
    policies = select(
        literal("policy"),
        policy.sku,
        policy.location_id,
        policy.backorder_limit,
        policy.backordered,
        cast(null(), _NUMBER),
        policy.version,
        *_nulls(5),
        policy.mode,
        cast(null(), _TEXT),
        cast(null(), LargeBinary),
        policy.preorder_until,
        policy.update_time,
    ).where(one_of(policy.sku, "skus", dialect))
    # A deactivated item's reason travels as method.
    item = items.c
    inactive = select(
        literal("inactive"),
        item.sku,
        cast(null(), _TEXT),
        *_nulls(9),
        item.deactivation_reason,
        cast(null(), _TEXT),
        cast(null(), LargeBinary),
        cast(null(), _TIME),
        cast(null(), _TIME),
    ).where(one_of(item.sku, "inactive_of", dialect), item.state == ItemState.INACTIVE.value)
    return union_all(levels, records, policies, inactive)


# Read by every write batch: run by the driver itself (``DriverRead``), rows by position.
_READ = {dialect: DriverRead(_statement(dialect)) for dialect in DIALECTS}
_COLUMNS = [column.name for column in _statement("postgresql").selected_columns]
ON_HAND, RESERVED, VERSION = (_COLUMNS.index(c) for c in ("on_hand", "reserved", "version"))
METHOD, FINGERPRINT, RESPONSE = (_COLUMNS.index(c) for c in ("method", "fingerprint", "response"))
TIME, UPDATED = _COLUMNS.index("time"), _COLUMNS.index("updated")


async def levels_and_records(
    connection: AsyncConnection,
    skus: Iterable[str],
    request_ids: Iterable[str],
    inactive_of: Iterable[str] = (),
) -> tuple[
    dict[StockKey, StockLevel],
    dict[str, Record],
    dict[StockKey, InventoryPolicy],
    dict[str, str],
]:
    """Levels and policies of ``skus``, the records of ``request_ids``, and which of
    ``inactive_of`` are deactivated (SKU -> the deactivation's reason)."""
    rows = await _READ[connection.dialect.name].rows(
        connection,
        {
            "skus": sorted(set(skus)),
            "ids": sorted(set(request_ids)),
            "inactive_of": sorted(set(inactive_of)),
        },
    )
    levels: dict[StockKey, StockLevel] = {}
    records: dict[str, Record] = {}
    policies: dict[StockKey, InventoryPolicy] = {}
    inactive: dict[str, str] = {}
    for row in rows:
        kind, id_, location_id = row[0], row[1], row[2]
        if kind == "level":
            levels[StockKey(id_, location_id)] = level_from_row(row[1:])
        elif kind == "policy":
            policies[StockKey(id_, location_id)] = InventoryPolicy(
                sku=id_,
                location_id=location_id,
                mode=PolicyMode(row[METHOD]),
                backorder_limit=row[ON_HAND],
                preorder_until=row[TIME],
                backordered=row[RESERVED],
                version=row[VERSION],
                update_time=row[UPDATED],
            )
        elif kind == "inactive":
            inactive[id_] = row[METHOD]
        elif row[RESPONSE] is not None:
            records[id_] = Record(row[METHOD], row[FINGERPRINT], bytes(row[RESPONSE]))
    return dict(sorted(levels.items())), records, policies, inactive
