"""A batch's decision applied in one statement (PostgreSQL): one round trip, one flush.

The statement locks every level of the batch's SKUs (sku, location order),
then the reservations it names (id order), and writes only if they are
what the batch read: the same levels at the same versions (a level not
created yet counts as version 0), the same reservation versions. Then it
writes the levels' new values, new reservations and their allocations,
changed reservations (state, expiry, version) and what was settled of their
allocations, the ledger entries (positioned from the transaction's id)
and the request records, and answers whether it wrote and its transaction
id. It decides nothing: every value comes from the decision. Batches that write
policies, expected receipts or backorders take the transaction instead
(``Decision.writes_supply``): this statement writes levels, reservations
without backorders, states, entries and records only. If what was
read has changed it writes nothing and the caller decides again under
locks (``service.writes``). A request id another replica recorded first
makes it fail with a unique violation, as a whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import DriverWrite, int_array, text_array
from stockroom.inventory.domain.decide import Decision
from stockroom.inventory.domain.model import Reservation, StockKey, StockLevel
from stockroom.inventory.store.ledger import ENTRY_BITS

APPLY = text(
    f"""
WITH locked AS MATERIALIZED (
    SELECT sku, location_id, version FROM stock_levels
    WHERE sku = ANY (CAST(:lock_skus AS text[]))
    ORDER BY sku, location_id
    FOR UPDATE
),
expected AS (
    SELECT * FROM unnest(CAST(CAST(:read_skus AS text) AS text[]),
        CAST(CAST(:read_locations AS text) AS text[]),
        CAST(CAST(:read_versions AS text) AS bigint[])) AS e (sku, location_id, version)
),
held AS MATERIALIZED (
    SELECT reservation_id, version FROM reservations
    WHERE reservation_id = ANY (CAST(:read_reservation_ids AS text[]))
    ORDER BY reservation_id
    FOR UPDATE
),
verdict AS MATERIALIZED (
    SELECT NOT EXISTS (
            SELECT FROM locked AS l FULL JOIN expected AS e USING (sku, location_id)
            WHERE coalesce(l.version, 0) <> coalesce(e.version, 0))
        AND NOT EXISTS (
            SELECT FROM unnest(CAST(:read_reservation_ids AS text[]),
                CAST(CAST(:read_versions_of_reservations AS text) AS bigint[]))
                AS r (reservation_id, version)
            LEFT JOIN held AS h USING (reservation_id)
            WHERE h.version IS DISTINCT FROM r.version) AS ok
),
level_writes AS (
    UPDATE stock_levels AS s
    SET on_hand = n.on_hand, reserved = n.reserved, safety_stock = n.safety_stock,
        version = n.version, damaged = n.damaged, quality_control = n.quality_control,
        reorder_point = n.reorder_point, backordered = n.backordered, incoming = n.incoming
    FROM unnest(CAST(CAST(:level_skus AS text) AS text[]),
        CAST(CAST(:level_locations AS text) AS text[]),
        CAST(CAST(:level_on_hand AS text) AS bigint[]),
        CAST(CAST(:level_reserved AS text) AS bigint[]),
        CAST(CAST(:level_safety AS text) AS bigint[]),
        CAST(CAST(:level_versions AS text) AS bigint[]),
        CAST(CAST(:level_damaged AS text) AS bigint[]),
        CAST(CAST(:level_quality_control AS text) AS bigint[]),
        CAST(CAST(:level_reorder_points AS text) AS bigint[]),
        CAST(CAST(:level_backordered AS text) AS bigint[]),
        CAST(CAST(:level_incoming AS text) AS bigint[]))
        AS n (sku, location_id, on_hand, reserved, safety_stock, version, damaged,
            quality_control, reorder_point, backordered, incoming)
    WHERE (SELECT ok FROM verdict) AND s.sku = n.sku AND s.location_id = n.location_id
        AND s.sku = ANY (CAST(:lock_skus AS text[]))
),
new_reservations AS (
    INSERT INTO reservations (reservation_id, state, reference, create_time, expire_time,
        update_time, version)
    SELECT * FROM unnest(CAST(CAST(:new_ids AS text) AS text[]),
        CAST(CAST(:new_states AS text) AS text[]),
        CAST(CAST(:new_references AS text) AS text[]), CAST(:new_created AS timestamptz[]),
        CAST(:new_expires AS timestamptz[]), CAST(:new_updated AS timestamptz[]),
        CAST(CAST(:new_versions AS text) AS bigint[]))
    WHERE (SELECT ok FROM verdict)
),
new_kit_lines AS (
    INSERT INTO reservation_kit_lines (reservation_id, line_number, kit_sku, quantity)
    SELECT * FROM unnest(CAST(CAST(:kit_line_ids AS text) AS text[]),
        CAST(CAST(:kit_line_numbers AS text) AS int[]),
        CAST(CAST(:kit_line_skus AS text) AS text[]),
        CAST(CAST(:kit_line_quantities AS text) AS bigint[]))
    WHERE (SELECT ok FROM verdict)
),
new_allocations AS (
    INSERT INTO reservation_allocations (reservation_id, line_number, sku, location_id,
        quantity, confirmed, released, expired)
    SELECT * FROM unnest(CAST(CAST(:allocation_ids AS text) AS text[]),
        CAST(CAST(:allocation_lines AS text) AS int[]),
        CAST(CAST(:allocation_skus AS text) AS text[]),
        CAST(CAST(:allocation_locations AS text) AS text[]),
        CAST(CAST(:allocation_quantities AS text) AS bigint[]),
        CAST(CAST(:allocation_confirmed AS text) AS bigint[]),
        CAST(CAST(:allocation_released AS text) AS bigint[]),
        CAST(CAST(:allocation_expired AS text) AS bigint[]))
    WHERE (SELECT ok FROM verdict)
),
changed_reservations AS (
    UPDATE reservations AS r SET state = c.state, expire_time = c.expire_time,
        update_time = c.update_time, version = c.version
    FROM unnest(CAST(CAST(:changed_ids AS text) AS text[]),
        CAST(CAST(:changed_states AS text) AS text[]),
        CAST(:changed_expires AS timestamptz[]), CAST(:changed_times AS timestamptz[]),
        CAST(CAST(:changed_versions AS text) AS bigint[]))
        AS c (reservation_id, state, expire_time, update_time, version)
    WHERE (SELECT ok FROM verdict) AND r.reservation_id = c.reservation_id
),
settled_allocations AS (
    UPDATE reservation_allocations AS a SET confirmed = s.confirmed, released = s.released,
        expired = s.expired
    FROM unnest(CAST(CAST(:settled_ids AS text) AS text[]),
        CAST(CAST(:settled_lines AS text) AS int[]),
        CAST(CAST(:settled_skus AS text) AS text[]),
        CAST(CAST(:settled_locations AS text) AS text[]),
        CAST(CAST(:settled_confirmed AS text) AS bigint[]),
        CAST(CAST(:settled_released AS text) AS bigint[]),
        CAST(CAST(:settled_expired AS text) AS bigint[]))
        AS s (reservation_id, line_number, sku, location_id, confirmed, released, expired)
    WHERE (SELECT ok FROM verdict) AND a.reservation_id = s.reservation_id
        AND a.line_number = s.line_number AND a.sku = s.sku AND a.location_id = s.location_id
),
entries AS (
    INSERT INTO movements (sequence, sku, location_id, kind, on_hand_delta, reserved_delta,
        on_hand, reserved, safety_stock, version, reason, reference, reservation_id,
        request_id, create_time, damaged_delta, quality_control_delta, damaged,
        quality_control, reorder_point, backordered_delta, incoming_delta, backordered,
        incoming, expected_receipt_id)
    SELECT (pg_current_xact_id()::text::bigint << {ENTRY_BITS}) + m.n, m.sku, m.location_id,
        m.kind, m.on_hand_delta, m.reserved_delta, m.on_hand, m.reserved, m.safety_stock,
        m.version, m.reason, m.reference, m.reservation_id, m.request_id, :now,
        m.damaged_delta, m.quality_control_delta, m.damaged, m.quality_control,
        m.reorder_point, m.backordered_delta, m.incoming_delta, m.backordered, m.incoming,
        m.expected_receipt_id
    FROM unnest(CAST(CAST(:entry_numbers AS text) AS bigint[]),
        CAST(CAST(:entry_skus AS text) AS text[]),
        CAST(CAST(:entry_locations AS text) AS text[]), CAST(CAST(:entry_kinds AS text) AS text[]),
        CAST(CAST(:entry_on_hand_deltas AS text) AS bigint[]),
        CAST(CAST(:entry_reserved_deltas AS text) AS bigint[]),
        CAST(CAST(:entry_on_hand AS text) AS bigint[]),
        CAST(CAST(:entry_reserved AS text) AS bigint[]),
        CAST(CAST(:entry_safety AS text) AS bigint[]),
        CAST(CAST(:entry_versions AS text) AS bigint[]),
        CAST(CAST(:entry_reasons AS text) AS text[]),
        CAST(CAST(:entry_references AS text) AS text[]),
        CAST(CAST(:entry_reservation_ids AS text) AS text[]),
        CAST(CAST(:entry_request_ids AS text) AS text[]),
        CAST(CAST(:entry_damaged_deltas AS text) AS bigint[]),
        CAST(CAST(:entry_quality_control_deltas AS text) AS bigint[]),
        CAST(CAST(:entry_damaged AS text) AS bigint[]),
        CAST(CAST(:entry_quality_control AS text) AS bigint[]),
        CAST(CAST(:entry_reorder_points AS text) AS bigint[]),
        CAST(CAST(:entry_backordered_deltas AS text) AS bigint[]),
        CAST(CAST(:entry_incoming_deltas AS text) AS bigint[]),
        CAST(CAST(:entry_backordered AS text) AS bigint[]),
        CAST(CAST(:entry_incoming AS text) AS bigint[]),
        CAST(CAST(:entry_expected_receipt_ids AS text) AS text[]))
        AS m (n, sku, location_id, kind, on_hand_delta, reserved_delta, on_hand, reserved,
            safety_stock, version, reason, reference, reservation_id, request_id,
            damaged_delta, quality_control_delta, damaged, quality_control, reorder_point,
            backordered_delta, incoming_delta, backordered, incoming, expected_receipt_id)
    WHERE (SELECT ok FROM verdict)
),
records AS (
    INSERT INTO request_records (request_id, method, fingerprint, response, create_time)
    SELECT r.request_id, r.method, r.fingerprint, r.response, :now
    FROM unnest(CAST(CAST(:record_ids AS text) AS text[]),
        CAST(CAST(:record_methods AS text) AS text[]),
        CAST(CAST(:record_fingerprints AS text) AS text[]), CAST(:record_responses AS bytea[]))
        AS r (request_id, method, fingerprint, response)
    WHERE (SELECT ok FROM verdict)
    ORDER BY r.request_id
)
SELECT ok, pg_current_xact_id()::text::bigint FROM verdict
"""
)


def parameters(
    lock_skus: Sequence[str],
    read_levels: Mapping[StockKey, StockLevel],
    read_reservations: Mapping[str, Reservation],
    decision: Decision,
    records: Sequence[tuple[str, str, str, bytes]],
    now: datetime,
) -> dict[str, Any]:
    levels = sorted(decision.levels.items())
    entries = decision.entries
    allocations = [
        (r.reservation_id, number, a)
        for r in decision.reservations
        for number, line in enumerate(r.lines)
        for a in line.held()
    ]
    kit_lines = [
        (r.reservation_id, number, line)
        for r in decision.reservations
        for number, line in enumerate(r.lines)
        if line.components
    ]
    changed = [decision.updated[r] for r in sorted(decision.updated)]
    settled = [
        (r.reservation_id, number, a)
        for r in changed
        for number, line in enumerate(r.lines)
        for a in line.held()
    ]
    return {
        "lock_skus": sorted(set(lock_skus)),
        "read_skus": text_array([k.sku for k in read_levels]),
        "read_locations": text_array([k.location_id for k in read_levels]),
        "read_versions": int_array([lv.version for lv in read_levels.values()]),
        "read_reservation_ids": list(read_reservations),
        "read_versions_of_reservations": int_array([r.version for r in read_reservations.values()]),
        "level_skus": text_array([k.sku for k, _ in levels]),
        "level_locations": text_array([k.location_id for k, _ in levels]),
        "level_on_hand": int_array([lv.on_hand for _, lv in levels]),
        "level_reserved": int_array([lv.reserved for _, lv in levels]),
        "level_safety": int_array([lv.safety_stock for _, lv in levels]),
        "level_versions": int_array([lv.version for _, lv in levels]),
        "level_damaged": int_array([lv.damaged for _, lv in levels]),
        "level_quality_control": int_array([lv.quality_control for _, lv in levels]),
        "level_reorder_points": int_array([lv.reorder_point for _, lv in levels]),
        "level_backordered": int_array([lv.backordered for _, lv in levels]),
        "level_incoming": int_array([lv.incoming for _, lv in levels]),
        "new_ids": text_array([r.reservation_id for r in decision.reservations]),
        "new_states": text_array([r.state.value for r in decision.reservations]),
        "new_references": text_array([r.reference for r in decision.reservations]),
        "new_created": [r.create_time for r in decision.reservations],
        "new_expires": [r.expire_time for r in decision.reservations],
        "new_updated": [r.update_time for r in decision.reservations],
        "new_versions": int_array([r.version for r in decision.reservations]),
        "kit_line_ids": text_array([i for i, _, _ in kit_lines]),
        "kit_line_numbers": int_array([n for _, n, _ in kit_lines]),
        "kit_line_skus": text_array([line.sku for _, _, line in kit_lines]),
        "kit_line_quantities": int_array([line.quantity for _, _, line in kit_lines]),
        "allocation_ids": text_array([i for i, _, _ in allocations]),
        "allocation_lines": int_array([n for _, n, _ in allocations]),
        "allocation_skus": text_array([a.sku for _, _, a in allocations]),
        "allocation_locations": text_array([a.location_id for _, _, a in allocations]),
        "allocation_quantities": int_array([a.quantity for _, _, a in allocations]),
        "allocation_confirmed": int_array([a.confirmed for _, _, a in allocations]),
        "allocation_released": int_array([a.released for _, _, a in allocations]),
        "allocation_expired": int_array([a.expired for _, _, a in allocations]),
        "changed_ids": text_array([r.reservation_id for r in changed]),
        "changed_states": text_array([r.state.value for r in changed]),
        "changed_expires": [r.expire_time for r in changed],
        "changed_times": [r.update_time for r in changed],
        "changed_versions": int_array([r.version for r in changed]),
        "settled_ids": text_array([i for i, _, _ in settled]),
        "settled_lines": int_array([n for _, n, _ in settled]),
        "settled_skus": text_array([a.sku for _, _, a in settled]),
        "settled_locations": text_array([a.location_id for _, _, a in settled]),
        "settled_confirmed": int_array([a.confirmed for _, _, a in settled]),
        "settled_released": int_array([a.released for _, _, a in settled]),
        "settled_expired": int_array([a.expired for _, _, a in settled]),
        "entry_numbers": int_array([m.sequence for m in entries]),
        "entry_skus": text_array([m.level.sku for m in entries]),
        "entry_locations": text_array([m.level.location_id for m in entries]),
        "entry_kinds": text_array([m.kind.value for m in entries]),
        "entry_on_hand_deltas": int_array([m.on_hand_delta for m in entries]),
        "entry_reserved_deltas": int_array([m.reserved_delta for m in entries]),
        "entry_on_hand": int_array([m.level.on_hand for m in entries]),
        "entry_reserved": int_array([m.level.reserved for m in entries]),
        "entry_safety": int_array([m.level.safety_stock for m in entries]),
        "entry_versions": int_array([m.level.version for m in entries]),
        "entry_reasons": text_array([m.reason for m in entries]),
        "entry_references": text_array([m.reference for m in entries]),
        "entry_reservation_ids": text_array([m.reservation_id or None for m in entries]),
        "entry_request_ids": text_array([m.request_id or None for m in entries]),
        "entry_damaged_deltas": int_array([m.damaged_delta for m in entries]),
        "entry_quality_control_deltas": int_array([m.quality_control_delta for m in entries]),
        "entry_damaged": int_array([m.level.damaged for m in entries]),
        "entry_quality_control": int_array([m.level.quality_control for m in entries]),
        "entry_reorder_points": int_array([m.level.reorder_point for m in entries]),
        "entry_backordered_deltas": int_array([m.backordered_delta for m in entries]),
        "entry_incoming_deltas": int_array([m.incoming_delta for m in entries]),
        "entry_backordered": int_array([m.level.backordered for m in entries]),
        "entry_incoming": int_array([m.level.incoming for m in entries]),
        "entry_expected_receipt_ids": text_array([m.expected_receipt_id or None for m in entries]),
        "record_ids": text_array([r[0] for r in records]),
        "record_methods": text_array([r[1] for r in records]),
        "record_fingerprints": text_array([r[2] for r in records]),
        "record_responses": [r[3] for r in records],
        "now": now,
    }


# Every array but two travels as one text literal (``int_array``, ``text_array``): asyncpg's
# per-element checks of about 800 array elements were a fifth of a batch's flush CPU
# (docs/performance.md, thirteenth pass). ``lock_skus`` and ``read_reservation_ids`` stay
# arrays: a filter compares rows against them, and a literal would be parsed for every row.

# Run by the driver itself where it can (``DriverWrite``): SQLAlchemy's work on the
# statement's 77 parameters cost about a quarter of it (docs/performance.md, eighth pass).
# Safe to repeat, as ``Transactions.write_statement`` requires: a repeat of a batch that
# committed fails on its request records.
_APPLY = DriverWrite(APPLY)


async def apply(connection: AsyncConnection, params: Mapping[str, Any]) -> tuple[bool, int]:
    """Run the statement: whether it wrote (what was read still held), and its xid."""
    [(ok, xid)] = await _APPLY.rows(connection, params)
    return bool(ok), int(xid)
