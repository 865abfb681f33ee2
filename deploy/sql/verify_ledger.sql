-- The inventory ledger's invariant, as one query: every stock level equals the sum of its
-- movements (on hand, reserved, damaged, quality control), and its reserved equals what
-- ACTIVE reservations hold (kit lines hold their components' units as allocations).
-- No rows means the ledger verifies. Run after a restore, and daily by deploy/k8s/verify-ledger.yaml
-- (deploy/verify_ledger.py). One snapshot: run it in a REPEATABLE READ transaction.
WITH ledger AS (
    SELECT sku, location_id,
           SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved,
           SUM(damaged_delta) AS damaged, SUM(quality_control_delta) AS quality_control
    FROM movements
    GROUP BY sku, location_id
), held AS (
    SELECT a.sku, a.location_id, SUM(a.quantity) AS quantity
    FROM reservation_allocations a
    JOIN reservations r ON r.reservation_id = a.reservation_id
    WHERE r.state = 'ACTIVE'
    GROUP BY a.sku, a.location_id
), keys AS (
    SELECT sku, location_id FROM stock_levels
    UNION
    SELECT sku, location_id FROM ledger
)
SELECT k.sku, k.location_id,
       s.on_hand AS level_on_hand, COALESCE(l.on_hand, 0) AS ledger_on_hand,
       s.reserved AS level_reserved, COALESCE(l.reserved, 0) AS ledger_reserved,
       COALESCE(h.quantity, 0) AS held_by_reservations,
       s.damaged AS level_damaged, COALESCE(l.damaged, 0) AS ledger_damaged,
       s.quality_control AS level_quality_control,
       COALESCE(l.quality_control, 0) AS ledger_quality_control
FROM keys k
LEFT JOIN stock_levels s ON s.sku = k.sku AND s.location_id = k.location_id
LEFT JOIN ledger l ON l.sku = k.sku AND l.location_id = k.location_id
LEFT JOIN held h ON h.sku = k.sku AND h.location_id = k.location_id
WHERE s.sku IS NULL
   OR s.on_hand <> COALESCE(l.on_hand, 0)
   OR s.reserved <> COALESCE(l.reserved, 0)
   OR s.reserved <> COALESCE(h.quantity, 0)
   OR s.damaged <> COALESCE(l.damaged, 0)
   OR s.quality_control <> COALESCE(l.quality_control, 0)
ORDER BY k.sku, k.location_id
