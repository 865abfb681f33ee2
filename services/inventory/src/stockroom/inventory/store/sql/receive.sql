-- ReceiveStock in one statement (PostgreSQL): units arrive at a level, created on first use.
--
-- The same change as StockStore's transaction, in one round trip that is its
-- own transaction, with locks in the same order: the level, then the ledger
-- head. An unknown SKU or location fails the level's foreign keys and a
-- repeated request id the request record's primary key; either aborts the
-- whole statement, and the caller's transaction then answers precisely.
WITH level AS (
    INSERT INTO stock_levels AS s (sku, location_id, on_hand, reserved, safety_stock, version)
    VALUES (:sku, :location_id, CAST(:quantity AS bigint), 0, 0, 1)
    ON CONFLICT (sku, location_id) DO UPDATE
    SET on_hand = s.on_hand + EXCLUDED.on_hand, version = s.version + 1
    RETURNING s.sku, s.location_id, s.on_hand, s.reserved, s.safety_stock, s.version
),
head AS (
    -- The last lock taken: sequence numbers are handed out in commit order.
    UPDATE ledger_head SET last_sequence = last_sequence + 1
    WHERE id = 1 AND EXISTS (SELECT FROM level)
    RETURNING last_sequence
),
entry AS (
    INSERT INTO movements (sequence, sku, location_id, kind, on_hand_delta, reserved_delta,
        on_hand, reserved, safety_stock, version, reason, reference, reservation_id,
        request_id, create_time)
    SELECT head.last_sequence, l.sku, l.location_id, 'RECEIPT', CAST(:quantity AS bigint), 0,
        l.on_hand, l.reserved, l.safety_stock, l.version, :reason, :reference, NULL,
        :request_id, CAST(:now AS timestamptz)
    FROM level AS l CROSS JOIN head
),
response AS (
    -- The LevelChange as msgspec JSON: the caller's skeleton, with the level after
    -- the receipt and the entry's sequence number filled in.
    SELECT jsonb_set(jsonb_set(jsonb_set(CAST(CAST(:header AS text) AS jsonb),
        '{level}', after.body), '{movement,level}', after.body),
        '{movement,sequence}', to_jsonb(head.last_sequence)) AS body
    FROM (
        SELECT jsonb_build_object('sku', sku, 'location_id', location_id, 'on_hand', on_hand,
            'reserved', reserved, 'safety_stock', safety_stock, 'version', version) AS body
        FROM level
    ) AS after CROSS JOIN head
),
recorded AS (
    INSERT INTO request_records (request_id, method, fingerprint, response, create_time)
    SELECT :request_id, :method, :fingerprint, convert_to(CAST(r.body AS text), 'UTF8'),
        CAST(:now AS timestamptz)
    FROM response AS r
    RETURNING response
)
SELECT (SELECT response FROM recorded) AS response
