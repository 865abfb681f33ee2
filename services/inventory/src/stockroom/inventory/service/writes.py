"""Every stock write, batched: read, decide with the domain, apply in one transaction.

``StockWrites.submit`` is what the use cases call; concurrent calls of the
process meet in the group commit (``batcher``) and each batch runs
``_flush``:

1. **Read** (no transaction, no locks): the levels of every SKU the batch
   names, the reservations it names, the records of its request ids, and
   which of its SKUs and locations exist (known ones are remembered: items
   and locations are never deleted).
2. **Decide** (``domain.decide``): every write in order, each with its own
   outcome. A batch that writes nothing (refusals, replays) ends here:
   refusals cost one read.
3. **Apply**, one transaction, one flush: create the levels the batch
   creates, lock every level of its SKUs in the global order (sku,
   location), then its reservations (by id), and check that they are what
   step 1 read (versions, states). If another replica changed any of them,
   decide again on the locked rows and the request records as they are now;
   nothing else can change them before the commit. Then write levels,
   reservations, ledger entries and request records (last, by id). A request
   id that another replica applied first (a unique violation), or a
   reservation that appeared since the read, reruns the transaction from a
   fresh read. Deadlocks cannot occur: every batch locks levels, then
   inventory policies, then reservations, then expected receipts, then
   records, each in one order.

Backorders: a batch that may make units available at a SKU (receipts,
counts, transfers, safety stock, releases, expiries) also reads every
reservation waiting at that SKU's levels, after the levels; any change to a
waiting backorder changes its level, so the version check of step 3 covers
them. Batches that write policies, expected receipts or backorders, or name a
reservation that still waits, take the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import (
    DEFAULT_BATCHES,
    BatchSettings,
    GroupCommit,
    RequestKey,
    request_id_reused,
)
from stockroom.inventory.domain import decide as domain
from stockroom.inventory.domain import kits as kit_rules
from stockroom.inventory.domain.decide import Decision, Snapshot, Write
from stockroom.inventory.domain.model import (
    Command,
    Confirm,
    ExpectedReceiptChange,
    Extend,
    KitComponent,
    LevelChange,
    Release,
    Reservation,
    Reserve,
    Result,
    StockKey,
    StockLevel,
    Transfer,
    TransferResult,
)
from stockroom.inventory.domain.rules import BrokenInvariant
from stockroom.inventory.domain.supply import (
    CancelExpectedReceipt,
    CreateExpectedReceipt,
    ExpectedReceipt,
    InventoryPolicy,
    SetPolicy,
)
from stockroom.inventory.service.events import LedgerEvents
from stockroom.inventory.store import (
    batch_reads,
    catalog,
    expected_receipts,
    kits,
    ledger,
    levels,
    plan,
    policies,
    records,
    reservation_rows,
)
from stockroom.inventory.store.clock import Clock
from stockroom.inventory.store.transactions import ConcurrentChange, Transactions

logger = logging.getLogger(__name__)

# unique_violation (PostgreSQL error codes, appendix A); SQLite says it in words.
_UNIQUE_VIOLATION = "23505"


def result_type(
    command: Command,
) -> (
    type[LevelChange]
    | type[TransferResult]
    | type[Reservation]
    | type[InventoryPolicy]
    | type[ExpectedReceiptChange]
):
    """What a command's recorded response decodes to."""
    if isinstance(command, Transfer):
        return TransferResult
    if isinstance(command, Reserve | Confirm | Release | Extend):
        return Reservation
    if isinstance(command, SetPolicy):
        return InventoryPolicy
    if isinstance(command, CreateExpectedReceipt | CancelExpectedReceipt):
        return ExpectedReceiptChange
    return LevelChange


class StockWrites:
    """The one way stock, reservations and the ledger change."""

    def __init__(
        self,
        transactions: Transactions,
        clock: Clock,
        settings: BatchSettings = DEFAULT_BATCHES,
        on_commit: Callable[[], None] = lambda: None,
        events: LedgerEvents | None = None,
        calls_in_flight: Callable[[], int] | None = None,
    ) -> None:
        """``calls_in_flight``: the calls the server is serving, so that a batch waits for
        company only when more may come (``batcher``)."""
        self._transactions = transactions
        self._clock = clock
        self._on_commit = on_commit
        # With publishing on, each batch's events go into the outbox in its transaction.
        self._events = events
        self._batcher: GroupCommit[Write, Result] = GroupCommit(
            self._flush, settings, calls_in_flight, name="inventory.writes"
        )
        self._one_statement = transactions.engine.dialect.name == "postgresql"
        self._known_items: set[str] = set()
        self._known_locations: set[str] = set()
        self._known_kits: set[str] = set()  # an item is a kit from its creation, or never

    @property
    def batches(self) -> int:
        return self._batcher.batches

    async def submit(self, command: Command, key: RequestKey | None) -> Result:
        """Apply ``command`` (in some batch); its result, or its own error."""
        return await self._batcher.submit(Write(command, key))

    async def _flush(self, writes: Sequence[Write]) -> list[Result | BaseException]:
        now = self._clock()
        snapshot = await self._transactions.read(lambda c: self._read(c, writes))
        try:
            decision = domain.decide(writes, snapshot, now)
            torn = False
        except BrokenInvariant:
            # The unlocked reads are separate statements: a reservation read before another
            # replica settled it and its level read after disagree (the database never holds
            # such rows). Decide on the rows read under the batch's locks instead.
            decision = await self._apply_in_transaction(writes, snapshot, None, now)
            torn = True
        if decision.writes_anything:
            if not torn:
                decision = await self._apply(writes, snapshot, decision, now)
            self._on_commit()
        return [_answer(w, o) for w, o in zip(writes, decision.outcomes, strict=True)]

    async def _read(self, connection: AsyncConnection, writes: Sequence[Write]) -> Snapshot:
        reservations = await reservation_rows.load(connection, domain.reservations_named(writes))
        expected = await expected_receipts.load(connection, domain.expected_receipts_named(writes))
        items, locations = await self._known(connection, writes)
        named_kits = domain.skus_named(writes) & self._known_kits
        flattened: dict[str, tuple[KitComponent, ...]] = {}
        if named_kits:  # definitions may change on any replica: read, never cached
            definitions = await kits.definitions(connection, named_kits)
            flattened = {sku: kit_rules.flatten(sku, definitions) for sku in sorted(named_kits)}
        found, recorded, policed, inactive = await batch_reads.levels_and_records(
            connection,
            _lock_skus(writes, reservations, expected, flattened),
            [w.key.request_id for w in writes if w.key is not None],
            domain.reserved_skus(writes),
        )
        # After the levels: a change to a waiting backorder since then changes its level.
        freed = domain.skus_freed(writes, reservations)
        queued, found = await _waiting_consistently(connection, freed, found)
        return Snapshot(
            found,
            reservations,
            recorded,
            items,
            locations,
            flattened,
            policies=policed,
            expected_receipts=expected,
            queued=queued,
            queued_skus=frozenset(freed),
            inactive_items=inactive,
        )

    async def _known(
        self, connection: AsyncConnection, writes: Sequence[Write]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Registered SKUs and locations among those named, and which SKUs are kits; once
        seen, never asked again. Only the named ones go to the snapshot (the domain asks
        about no others): a copy of all seen would make each batch cost in proportion to
        the catalog the process has met."""
        named_skus, named_locations = domain.skus_named(writes), domain.locations_named(writes)
        skus = named_skus - self._known_items
        locations = named_locations - self._known_locations
        if skus or locations:
            found_items, found_locations, found_kits = await catalog.known_with_kits(
                connection, skus, locations
            )
            self._known_items |= found_items
            self._known_locations |= found_locations
            self._known_kits |= found_kits
        return (
            frozenset(named_skus & self._known_items),
            frozenset(named_locations & self._known_locations),
        )

    async def _apply(
        self, writes: Sequence[Write], snapshot: Snapshot, decision: Decision, now: datetime
    ) -> Decision:
        # The one statement cannot carry the outbox rows (their ids need the positions
        # it assigns): with events on, every batch takes the transaction.
        if (
            self._one_statement
            and self._events is None
            and not _records_hold_positions(decision)
            and not decision.writes_supply
            and not any(r.backorders() for r in snapshot.reservations.values())
        ):
            applied = await self._apply_in_one_statement(writes, snapshot, decision, now)
            if applied is not None:
                return applied
        return await self._apply_in_transaction(writes, snapshot, decision, now)

    async def _apply_in_one_statement(
        self, writes: Sequence[Write], snapshot: Snapshot, decision: Decision, now: datetime
    ) -> Decision | None:
        """The common case on PostgreSQL: one round trip; None if what the batch read has
        changed (or a request id was recorded by another replica meanwhile)."""
        creates = _creates(writes, snapshot)
        if creates:  # an empty level is as good as none: no need to share the transaction
            await self._transactions.write_statement(lambda c: levels.create_missing(c, creates))
        params = plan.parameters(
            sorted(
                _lock_skus(writes, snapshot.reservations, snapshot.expected_receipts, snapshot.kits)
            ),
            snapshot.levels,
            {r: snapshot.reservations[r] for r in sorted(snapshot.reservations)},
            decision,
            _records(decision),
            now,
        )
        try:
            ok, xid = await self._transactions.write_statement(lambda c: plan.apply(c, params))
        except IntegrityError as error:
            if not _is_unique_violation(error):
                logger.error("a constraint stopped a batch", exc_info=True)
                raise
            return None
        return decision.positioned(xid << ledger.ENTRY_BITS) if ok else None

    async def _apply_in_transaction(
        self, writes: Sequence[Write], snapshot: Snapshot, decision: Decision | None, now: datetime
    ) -> Decision:
        attempts = 0

        async def work(connection: AsyncConnection) -> Decision:
            nonlocal attempts
            attempts += 1
            read, planned = snapshot, decision
            if attempts > 1:  # a rerun: what was read before is stale
                read = await self._read(connection, writes)
                try:
                    planned = domain.decide(writes, read, now)
                except BrokenInvariant:  # torn again: decide on the locked rows
                    planned = None
            return await self._apply_once(connection, writes, read, planned, now)

        return await self._transactions.write(work)

    async def _apply_once(
        self,
        connection: AsyncConnection,
        writes: Sequence[Write],
        read: Snapshot,
        decision: Decision | None,
        now: datetime,
    ) -> Decision:
        """Lock, check what ``read`` saw, apply ``decision``; decide again on the locked rows
        when they changed (or when there is no decision: the unlocked read was torn)."""
        # Levels this batch creates exist before anything is locked (inserted in key order).
        await levels.create_missing(connection, _creates(writes, read))
        skus = _lock_skus(writes, read.reservations, read.expected_receipts, read.kits)
        locked, xid = await levels.lock_skus(connection, skus)
        policed = await policies.of_skus(connection, skus, lock=True)
        held = await reservation_rows.load(connection, domain.reservations_named(writes), lock=True)
        expected = await expected_receipts.load(
            connection, domain.expected_receipts_named(writes), lock=True
        )
        if held.keys() != read.reservations.keys():
            raise ConcurrentChange("a reservation appeared since the batch read")
        if _skus_of(held, expected) - skus:
            raise ConcurrentChange("an expected receipt appeared since the batch read")
        scope: set[StockKey] = set(locked) | set(read.levels)
        if (
            decision is None
            or not domain.same_levels(scope, read.levels, locked)
            or held != read.reservations
            or policed != read.policies
            or expected != read.expected_receipts
        ):
            # Another replica changed what the batch read: decide again on the locked rows.
            fresh = await records.read(
                connection, [w.key.request_id for w in writes if w.key is not None]
            )
            freed = domain.skus_freed(writes, held)
            read = Snapshot(
                locked,
                held,
                fresh,
                read.items,
                read.locations,
                read.kits,
                policies=policed,
                expected_receipts=expected,
                queued=await _waiting(connection, freed, locked),
                queued_skus=frozenset(freed),
                inactive_items=read.inactive_items,
            )
            decision = domain.decide(writes, read, now)
        if decision.entries:
            decision = decision.positioned(await ledger.first_position(connection, xid))
        try:
            await levels.write(connection, decision.levels)
            await policies.write(connection, decision.policies, decision.policies_created)
            await reservation_rows.insert_all(connection, decision.reservations)
            # Fills first: they grow allocations (or add them), and a write later in the batch
            # may settle what a fill added; the settled counters are checked against the
            # quantity row by row (allocation_settled_within_quantity).
            await reservation_rows.write_lines(
                connection, decision.allocation_writes, decision.backorder_writes
            )
            await reservation_rows.update_all(connection, decision.updated)
            await expected_receipts.write(
                connection, decision.expected_receipts, decision.expected_receipts_created
            )
            await ledger.append(connection, decision.entries)
            if self._events is not None and decision.entries:
                await self._events.append(connection, decision.entries, read.levels, now)
            await records.write(connection, _records(decision), now)
        except IntegrityError as error:
            if _is_unique_violation(error):
                # A request id, policy or expected receipt another replica wrote first.
                raise ConcurrentChange("another replica wrote the same key first") from error
            logger.error("a constraint stopped a batch", exc_info=True)
            raise
        return decision


def _creates(writes: Sequence[Write], read: Snapshot) -> set[StockKey]:
    """Levels the writes name that do not exist yet (of registered SKUs and locations;
    never of a kit, which holds no stock)."""
    return {
        k
        for k in domain.keys_touched(writes)
        if k not in read.levels
        and k.sku in read.items
        and k.sku not in read.kits
        and k.location_id in read.locations
    }


def _lock_skus(
    writes: Sequence[Write],
    reservations: Mapping[str, Reservation],
    expected: Mapping[str, ExpectedReceipt],
    kit_definitions: Mapping[str, Sequence[KitComponent]],
) -> set[str]:
    """The SKUs whose levels (and policies) a batch reads and locks: those it names, the
    stocked items of the kits it names, those its reservations hold or wait for, those
    of its expected receipts."""
    return (
        domain.skus_named(writes)
        | {c.sku for leaves in kit_definitions.values() for c in leaves}
        | _skus_of(reservations, expected)
    )


def _skus_of(
    reservations: Mapping[str, Reservation], expected: Mapping[str, ExpectedReceipt]
) -> set[str]:
    return domain.skus_held(reservations.values()) | {e.sku for e in expected.values()}


async def _waiting(
    connection: AsyncConnection, freed: set[str], found: Mapping[StockKey, StockLevel]
) -> dict[str, Reservation]:
    """The reservations waiting at the levels of ``freed`` SKUs (read only where a level
    says something waits)."""
    skus = {k.sku for k, level in found.items() if k.sku in freed and level.backordered}
    return await reservation_rows.load_waiting(connection, skus)


# How often an unlocked read re-reads levels whose queues changed between two statements.
_TORN_READS = 8


async def _waiting_consistently(
    connection: AsyncConnection, freed: set[str], found: Mapping[StockKey, StockLevel]
) -> tuple[dict[str, Reservation], dict[StockKey, StockLevel]]:
    """The waiting reservations, and the levels with those of SKUs whose queues changed
    since ``found`` was read read again, until they agree (unlocked reads on PostgreSQL
    take one snapshot per statement; a batch must not decide on a queue newer than its
    level). Still torn after a few tries: the batch reads again from the start."""
    levels_now = dict(found)
    for _ in range(_TORN_READS):
        queued = await _waiting(connection, freed, levels_now)
        torn = _torn(freed, levels_now, queued.values())
        if not torn:
            return queued, levels_now
        fresh = await levels.read_skus(connection, torn)
        levels_now = {k: v for k, v in levels_now.items() if k.sku not in torn} | fresh
    raise ConcurrentChange("backorders kept changing while the batch read them")


def _torn(
    freed: set[str], found: Mapping[StockKey, StockLevel], queued: Iterable[Reservation]
) -> set[str]:
    """SKUs whose levels' backordered units differ from what the queue says waits."""
    waiting: dict[StockKey, int] = {}
    for reservation in queued:
        for b in reservation.backorders():
            if b.sku in freed:  # it may wait for other SKUs too, not read with their levels
                key = StockKey(b.sku, b.location_id)
                waiting[key] = waiting.get(key, 0) + b.outstanding
    keys = {k for k in found if k.sku in freed} | set(waiting)
    return {k.sku for k in keys if waiting.get(k, 0) != (found[k].backordered if k in found else 0)}


def _records(decision: Decision) -> list[tuple[str, str, str, bytes]]:
    """The request records of a (positioned) decision: each success's response."""
    rows = []
    for record in decision.records:
        outcome = decision.outcomes[record.write]
        assert isinstance(outcome, domain.Done)
        rows.append(
            (
                record.request_id,
                record.method,
                record.fingerprint,
                msgspec.json.encode(outcome.result),
            )
        )
    return rows


def _records_hold_positions(decision: Decision) -> bool:
    """Whether a recorded response holds ledger positions (known only inside the
    transaction that writes them)."""
    return any(
        isinstance(o, domain.Done)
        and isinstance(o.result, LevelChange | TransferResult | ExpectedReceiptChange)
        for o in (decision.outcomes[r.write] for r in decision.records)
    )


def _is_unique_violation(error: IntegrityError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate == _UNIQUE_VIOLATION or "UNIQUE constraint failed" in str(error.orig)


def _answer(write: Write, outcome: domain.Outcome) -> Result | BaseException:
    if isinstance(outcome, domain.Done):
        return outcome.result
    if isinstance(outcome, domain.Failed):
        return outcome.error
    assert write.key is not None
    if isinstance(outcome, domain.Reused):
        return request_id_reused(
            RequestKey(write.key.request_id, write.key.method, write.key.fingerprint)
        )
    decoded: Result = msgspec.json.decode(outcome.response, type=result_type(write.command))
    return decoded
