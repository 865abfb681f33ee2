-- ReserveStock in one statement (PostgreSQL): lock, allocate, hold, record, all or nothing.
--
-- The same reservation as ReservationStore's transaction, in one round trip
-- that is its own transaction. Locks are taken in the same order: stock
-- levels (by SKU, then location), then the ledger head. The allocation is
-- domain.rules.allocate written in SQL (largest available first, ties to
-- the smaller location id), computed from the rows this statement has
-- locked, so no concurrent change can slip in between. Nothing is written
-- unless every line is served and every location of the filter exists; the
-- statement then returns NULL and the caller falls back to the transaction,
-- which gives the precise error. The request record is inserted last and
-- without ON CONFLICT: a repeated request id aborts the whole statement with
-- a unique violation, and the caller's fallback answers from the record.
WITH lines AS (
    SELECT line.sku, line.quantity, line.position - 1 AS line_number
    FROM unnest(CAST(:skus AS text[]), CAST(:quantities AS bigint[]))
        WITH ORDINALITY AS line (sku, quantity, position)
),
locked AS MATERIALIZED (
    SELECT sku, location_id, GREATEST(0, on_hand - reserved - safety_stock) AS available
    FROM stock_levels
    WHERE sku = ANY (CAST(:skus AS text[]))
        AND (cardinality(CAST(:location_ids AS text[])) = 0
            OR location_id = ANY (CAST(:location_ids AS text[])))
    ORDER BY sku, location_id
    FOR UPDATE
),
candidates AS (
    -- Each level, in allocation order, with what its line still needs when it is reached.
    SELECT k.sku, k.location_id, k.available, l.line_number,
        l.quantity - COALESCE(sum(k.available) OVER (
            PARTITION BY k.sku ORDER BY k.available DESC, k.location_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS still_needed
    FROM locked AS k JOIN lines AS l USING (sku)
),
allocations AS MATERIALIZED (
    SELECT sku, location_id, line_number, available, LEAST(available, still_needed) AS quantity
    FROM candidates
    WHERE available > 0 AND still_needed > 0
),
verdict AS (
    SELECT NOT EXISTS (
            SELECT FROM lines AS l
            WHERE l.quantity > (SELECT COALESCE(sum(a.quantity), 0) FROM allocations AS a
                WHERE a.sku = l.sku)
        )
        AND (SELECT count(*) FROM locations
            WHERE location_id = ANY (CAST(:location_ids AS text[])))
            = cardinality(CAST(:location_ids AS text[])) AS ok
),
held AS (
    UPDATE stock_levels AS s
    SET reserved = s.reserved + a.quantity, version = s.version + 1
    FROM allocations AS a
    WHERE (SELECT ok FROM verdict) AND s.sku = a.sku AND s.location_id = a.location_id
    RETURNING s.sku, s.location_id, s.on_hand, s.reserved, s.safety_stock, s.version,
        a.quantity
),
header AS (
    INSERT INTO reservations
        (reservation_id, state, reference, create_time, expire_time, update_time)
    SELECT :reservation_id, 'ACTIVE', :reference, CAST(:now AS timestamptz),
        CAST(:expire_time AS timestamptz), CAST(:now AS timestamptz)
    WHERE EXISTS (SELECT FROM held)
    RETURNING reservation_id
),
holdings AS (
    INSERT INTO reservation_allocations (reservation_id, sku, location_id, line_number, quantity)
    SELECT h.reservation_id, a.sku, a.location_id, a.line_number, a.quantity
    FROM header AS h CROSS JOIN allocations AS a
),
head AS (
    -- The last lock taken: sequence numbers are handed out in commit order.
    UPDATE ledger_head SET last_sequence = last_sequence + (SELECT count(*) FROM held)
    WHERE id = 1 AND EXISTS (SELECT FROM held)
    RETURNING last_sequence
),
entries AS (
    INSERT INTO movements (sequence, sku, location_id, kind, on_hand_delta, reserved_delta,
        on_hand, reserved, safety_stock, version, reason, reference, reservation_id,
        request_id, create_time)
    SELECT head.last_sequence - count(*) OVER () + row_number() OVER (ORDER BY h.sku, h.location_id),
        h.sku, h.location_id, 'RESERVATION', 0, h.quantity, h.on_hand, h.reserved,
        h.safety_stock, h.version, '', :reference, :reservation_id, :request_id,
        CAST(:now AS timestamptz)
    FROM held AS h CROSS JOIN head
),
response AS (
    -- The Reservation as msgspec JSON: the caller's header, with the lines as allocated.
    SELECT CAST(CAST(:header AS text) AS jsonb)
        || jsonb_build_object('lines', jsonb_agg(line.body ORDER BY line.line_number)) AS body
    FROM (
        SELECT l.line_number, jsonb_build_object(
            'sku', l.sku,
            'quantity', l.quantity,
            'allocations', jsonb_agg(
                jsonb_build_object('sku', a.sku, 'location_id', a.location_id,
                    'quantity', a.quantity)
                ORDER BY a.available DESC, a.location_id)) AS body
        FROM lines AS l JOIN allocations AS a USING (sku, line_number)
        GROUP BY l.line_number, l.sku, l.quantity
    ) AS line
),
recorded AS (
    INSERT INTO request_records (request_id, method, fingerprint, response, create_time)
    SELECT :request_id, :method, :fingerprint, convert_to(CAST(r.body AS text), 'UTF8'),
        CAST(:now AS timestamptz)
    FROM response AS r
    WHERE EXISTS (SELECT FROM held)
    RETURNING response
)
SELECT (SELECT response FROM recorded) AS response
