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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.inventory.domain.verification import LevelAccount

ACCOUNTS = text(
    """
WITH page AS (
    SELECT sku, location_id, on_hand, reserved, damaged, quality_control
    FROM stock_levels
    WHERE sku > :after_sku OR (sku = :after_sku AND location_id > :after_location)
    ORDER BY sku, location_id
    LIMIT :size
), ledger AS (
    SELECT m.sku, m.location_id,
           SUM(m.on_hand_delta) AS on_hand, SUM(m.reserved_delta) AS reserved,
           SUM(m.damaged_delta) AS damaged, SUM(m.quality_control_delta) AS quality_control
    FROM movements AS m
    JOIN page AS p ON p.sku = m.sku AND p.location_id = m.location_id
    GROUP BY m.sku, m.location_id
), held AS (
    SELECT a.sku, a.location_id,
           SUM(a.quantity - a.confirmed - a.released - a.expired) AS quantity
    FROM reservations AS r
    JOIN reservation_allocations AS a ON a.reservation_id = r.reservation_id
    JOIN page AS p ON p.sku = a.sku AND p.location_id = a.location_id
    WHERE r.state = 'ACTIVE'
    GROUP BY a.sku, a.location_id
)
SELECT p.sku, p.location_id, p.on_hand, p.reserved,
       COALESCE(l.on_hand, 0) AS ledger_on_hand,
       COALESCE(l.reserved, 0) AS ledger_reserved,
       COALESCE(h.quantity, 0) AS held_by_reservations,
       p.damaged, COALESCE(l.damaged, 0) AS ledger_damaged,
       p.quality_control, COALESCE(l.quality_control, 0) AS ledger_quality_control
FROM page AS p
LEFT JOIN ledger AS l ON l.sku = p.sku AND l.location_id = p.location_id
LEFT JOIN held AS h ON h.sku = p.sku AND h.location_id = p.location_id
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
        LevelAccount(
            row.sku,
            row.location_id,
            int(row.on_hand),
            int(row.reserved),
            int(row.ledger_on_hand),
            int(row.ledger_reserved),
            int(row.held_by_reservations),
            int(row.damaged),
            int(row.ledger_damaged),
            int(row.quality_control),
            int(row.ledger_quality_control),
        )
        for row in rows
    ]
