"""The ledger verification's one statement: a page of stock levels, in (SKU, location)
order, each with the sums of its ledger entries and what active reservations hold there
(kit lines hold their components' units as allocations, counted the same way).

One statement is one snapshot, so each level is compared with its own entries and
reservations as they were at one moment; pages may come from different moments, which
is enough because the invariant holds per level. Whether a level agrees is the
domain's rule (``domain.verification``). The foreign key from ``movements`` to
``stock_levels`` means no ledger entry can exist without its level.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.inventory.domain import verification
from stockroom.inventory.domain.verification import LevelAccount

ACCOUNTS = text(
    """
WITH page AS (
    SELECT sku, location_id, on_hand, reserved, damaged, quality_control, backordered,
           incoming
    FROM stock_levels
    WHERE sku > :after_sku OR (sku = :after_sku AND location_id > :after_location)
    ORDER BY sku, location_id
    LIMIT :size
), ledger AS (
    SELECT m.sku, m.location_id,
           SUM(m.on_hand_delta) AS on_hand, SUM(m.reserved_delta) AS reserved,
           SUM(m.damaged_delta) AS damaged, SUM(m.quality_control_delta) AS quality_control,
           SUM(m.backordered_delta) AS backordered, SUM(m.incoming_delta) AS incoming
    FROM movements AS m
    JOIN page AS p ON p.sku = m.sku AND p.location_id = m.location_id
    GROUP BY m.sku, m.location_id
), held AS (
    SELECT a.sku, a.location_id, SUM(a.quantity) AS quantity, SUM(a.confirmed) AS confirmed,
           SUM(a.released) AS released, SUM(a.expired) AS expired
    FROM reservations AS r
    JOIN reservation_allocations AS a ON a.reservation_id = r.reservation_id
    JOIN page AS p ON p.sku = a.sku AND p.location_id = a.location_id
    WHERE r.state = 'ACTIVE'
    GROUP BY a.sku, a.location_id
), waiting AS (
    SELECT b.sku, b.location_id, SUM(b.quantity) AS quantity, SUM(b.filled) AS filled,
           SUM(b.cancelled) AS cancelled
    FROM reservations AS r
    JOIN reservation_backorders AS b ON b.reservation_id = r.reservation_id
    JOIN page AS p ON p.sku = b.sku AND p.location_id = b.location_id
    WHERE r.state = 'ACTIVE'
    GROUP BY b.sku, b.location_id
), arriving AS (
    SELECT e.sku, e.location_id, SUM(e.quantity) AS quantity, SUM(e.received) AS received
    FROM expected_receipts AS e
    JOIN page AS p ON p.sku = e.sku AND p.location_id = e.location_id
    WHERE e.state = 'OPEN'
    GROUP BY e.sku, e.location_id
)
SELECT p.sku, p.location_id, p.on_hand, p.reserved, p.damaged, p.quality_control,
       p.backordered, p.incoming,
       COALESCE(l.on_hand, 0) AS ledger_on_hand, COALESCE(l.reserved, 0) AS ledger_reserved,
       COALESCE(l.damaged, 0) AS ledger_damaged,
       COALESCE(l.quality_control, 0) AS ledger_quality_control,
       COALESCE(l.backordered, 0) AS ledger_backordered,
       COALESCE(l.incoming, 0) AS ledger_incoming,
       COALESCE(h.quantity, 0) AS held_quantity, COALESCE(h.confirmed, 0) AS held_confirmed,
       COALESCE(h.released, 0) AS held_released, COALESCE(h.expired, 0) AS held_expired,
       COALESCE(w.quantity, 0) AS waiting_quantity, COALESCE(w.filled, 0) AS waiting_filled,
       COALESCE(w.cancelled, 0) AS waiting_cancelled,
       COALESCE(x.quantity, 0) AS arriving_quantity,
       COALESCE(x.received, 0) AS arriving_received
FROM page AS p
LEFT JOIN ledger AS l ON l.sku = p.sku AND l.location_id = p.location_id
LEFT JOIN held AS h ON h.sku = p.sku AND h.location_id = p.location_id
LEFT JOIN waiting AS w ON w.sku = p.sku AND w.location_id = p.location_id
LEFT JOIN arriving AS x ON x.sku = p.sku AND x.location_id = p.location_id
ORDER BY p.sku, p.location_id
"""
)


async def accounts(
    connection: AsyncConnection, after: tuple[str, str] | None, size: int
) -> list[LevelAccount]:
    """Up to ``size`` levels after ``after`` (SKU, location), each with its sums."""
    after_sku, after_location = after or ("", "")
    rows = await connection.execute(
        ACCOUNTS, {"after_sku": after_sku, "after_location": after_location, "size": size}
    )
    return [
        _account({k: (v if isinstance(v, str) else int(v)) for k, v in row._mapping.items()})
        for row in rows
    ]


def _account(row: dict[str, Any]) -> LevelAccount:
    return LevelAccount(
        row["sku"],
        row["location_id"],
        row["on_hand"],
        row["reserved"],
        row["ledger_on_hand"],
        row["ledger_reserved"],
        verification.still_held(
            row["held_quantity"], row["held_confirmed"], row["held_released"], row["held_expired"]
        ),
        damaged=row["damaged"],
        ledger_damaged=row["ledger_damaged"],
        quality_control=row["quality_control"],
        ledger_quality_control=row["ledger_quality_control"],
        backordered=row["backordered"],
        ledger_backordered=row["ledger_backordered"],
        waiting_backorders=verification.still_waiting(
            row["waiting_quantity"], row["waiting_filled"], row["waiting_cancelled"]
        ),
        incoming=row["incoming"],
        ledger_incoming=row["ledger_incoming"],
        open_incoming=verification.still_incoming(
            row["arriving_quantity"], row["arriving_received"]
        ),
    )
