-- ConfirmReservation and ReleaseReservation in one statement (PostgreSQL): an active
-- reservation gives its units back (and ships them, for a confirmation), all or nothing.
--
-- The same change as ReservationStore's transaction, in one round trip that
-- is its own transaction, with locks in the same order: the reservation,
-- its stock levels (by SKU, then location), the ledger head. Only the plain
-- case is done here: a reservation that is active (and, for a confirmation,
-- not past its expiry). Anything else (unknown, already given back, expired)
-- writes nothing and returns NULL; the caller's transaction then answers
-- precisely. A repeated request id aborts the statement (unique violation
-- on the request record, inserted last) and is answered from the record.
WITH target AS MATERIALIZED (
    SELECT reservation_id, reference, create_time, expire_time
    FROM reservations
    WHERE reservation_id = :reservation_id AND state = 'ACTIVE'
        AND (NOT CAST(:must_be_unexpired AS boolean)
            OR expire_time > CAST(:now AS timestamptz))
    FOR UPDATE
),
holdings AS MATERIALIZED (
    SELECT a.sku, a.location_id, a.line_number, a.quantity
    FROM reservation_allocations AS a JOIN target AS t USING (reservation_id)
),
locked AS MATERIALIZED (
    SELECT s.sku, s.location_id, h.quantity
    FROM stock_levels AS s JOIN holdings AS h USING (sku, location_id)
    ORDER BY s.sku, s.location_id
    FOR UPDATE OF s
),
given_back AS (
    UPDATE stock_levels AS s
    SET on_hand = s.on_hand + CAST(:on_hand_sign AS bigint) * k.quantity,
        reserved = s.reserved - k.quantity,
        version = s.version + 1
    FROM locked AS k
    WHERE s.sku = k.sku AND s.location_id = k.location_id
    RETURNING s.sku, s.location_id, s.on_hand, s.reserved, s.safety_stock, s.version,
        k.quantity
),
closed AS (
    UPDATE reservations AS r SET state = :state, update_time = CAST(:now AS timestamptz)
    FROM target AS t
    WHERE r.reservation_id = t.reservation_id
),
head AS (
    -- The last lock taken: sequence numbers are handed out in commit order.
    UPDATE ledger_head SET last_sequence = last_sequence + (SELECT count(*) FROM given_back)
    WHERE id = 1 AND EXISTS (SELECT FROM given_back)
    RETURNING last_sequence
),
entries AS (
    INSERT INTO movements (sequence, sku, location_id, kind, on_hand_delta, reserved_delta,
        on_hand, reserved, safety_stock, version, reason, reference, reservation_id,
        request_id, create_time)
    SELECT head.last_sequence - count(*) OVER () + row_number() OVER (ORDER BY g.sku, g.location_id),
        g.sku, g.location_id, :kind, CAST(:on_hand_sign AS bigint) * g.quantity, -g.quantity,
        g.on_hand, g.reserved, g.safety_stock, g.version, :reason, :reference,
        :reservation_id, :request_id, CAST(:now AS timestamptz)
    FROM given_back AS g CROSS JOIN head
),
response AS (
    -- The Reservation as msgspec JSON: the caller's new state and update time, the
    -- rest as stored (lines in order, allocations by quantity, then location).
    SELECT CAST(CAST(:header AS text) AS jsonb) || jsonb_build_object(
        'reservation_id', t.reservation_id,
        'reference', t.reference,
        'create_time', to_char(t.create_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'expire_time', to_char(t.expire_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'lines', (
            SELECT jsonb_agg(line.body ORDER BY line.line_number)
            FROM (
                SELECT h.line_number, jsonb_build_object(
                    'sku', min(h.sku),
                    'quantity', sum(h.quantity),
                    'allocations', jsonb_agg(
                        jsonb_build_object('sku', h.sku, 'location_id', h.location_id,
                            'quantity', h.quantity)
                        ORDER BY h.quantity DESC, h.location_id)) AS body
                FROM holdings AS h
                GROUP BY h.line_number
            ) AS line
        )) AS body
    FROM target AS t
),
recorded AS (
    INSERT INTO request_records (request_id, method, fingerprint, response, create_time)
    SELECT :request_id, :method, :fingerprint, convert_to(CAST(r.body AS text), 'UTF8'),
        CAST(:now AS timestamptz)
    FROM response AS r
    WHERE EXISTS (SELECT FROM given_back)
    RETURNING response
)
SELECT (SELECT response FROM recorded) AS response
