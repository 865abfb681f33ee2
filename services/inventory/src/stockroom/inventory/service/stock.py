"""Stock use cases: receipts, counts, transfers, safety stock, moves between stock states,
reorder points (batched writes), and the level and availability reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import RequestKey
from stockroom.inventory.domain import backorders, errors, incoming, rules
from stockroom.inventory.domain import kits as kit_rules
from stockroom.inventory.domain.model import (
    Adjustment,
    AvailabilityCheck,
    KitComponent,
    LevelChange,
    Line,
    LineAvailability,
    Receipt,
    ReorderPointChange,
    SafetyStockChange,
    StateMove,
    StockKey,
    StockLevel,
    Transfer,
    TransferResult,
)
from stockroom.inventory.domain.supply import ExpectedReceipt, InventoryPolicy
from stockroom.inventory.service.availability import AvailabilityReads, shares
from stockroom.inventory.service.writes import StockWrites
from stockroom.inventory.store import catalog, expected_receipts, kits, levels, policies
from stockroom.inventory.store.clock import Clock, utc_now
from stockroom.inventory.store.kits import PromiseRead
from stockroom.inventory.store.transactions import Transactions

R = TypeVar("R")


@dataclass(frozen=True)
class SkuLevels:
    """The stock of one SKU: its levels, or for a kit (no levels) the kits it can make."""

    sku: str
    levels: list[StockLevel] = field(default_factory=list)
    kit: bool = False
    kits_available: int = 0


class StockService:
    def __init__(
        self,
        transactions: Transactions,
        writes: StockWrites,
        availability: AvailabilityReads,
        clock: Clock = utc_now,
    ) -> None:
        self._transactions = transactions
        self._writes = writes
        self._availability = availability
        self._clock = clock

    async def receive(self, receipt: Receipt, key: RequestKey) -> LevelChange:
        return _expect(await self._writes.submit(receipt, key), LevelChange)

    async def adjust(self, adjustment: Adjustment, key: RequestKey) -> LevelChange:
        return _expect(await self._writes.submit(adjustment, key), LevelChange)

    async def transfer(self, transfer: Transfer, key: RequestKey) -> TransferResult:
        return _expect(await self._writes.submit(transfer, key), TransferResult)

    async def set_safety_stock(self, change: SafetyStockChange, key: RequestKey) -> LevelChange:
        return _expect(await self._writes.submit(change, key), LevelChange)

    async def move_state(self, move: StateMove, key: RequestKey) -> LevelChange:
        return _expect(await self._writes.submit(move, key), LevelChange)

    async def set_reorder_point(self, change: ReorderPointChange, key: RequestKey) -> LevelChange:
        return _expect(await self._writes.submit(change, key), LevelChange)

    async def levels_of(self, skus: Sequence[str]) -> dict[str, SkuLevels]:
        """Every level of each SKU, by SKU (a kit: how many whole kits its components'
        levels can make); NotFound for an unregistered SKU."""

        async def work(connection: AsyncConnection) -> dict[str, SkuLevels]:
            known, _, kit_skus = await catalog.known_with_kits(connection, skus)
            for sku in sorted(set(skus)):
                if sku not in known:
                    raise errors.item_not_found(sku)
            definitions = await kits.definitions(connection, kit_skus)
            leaves = {sku: kit_rules.flatten(sku, definitions) for sku in kit_skus}
            components = {c.sku for parts in leaves.values() for c in parts}
            by_sku: dict[str, list[StockLevel]] = {sku: [] for sku in {*skus, *components}}
            for key, level in sorted((await levels.read_skus(connection, by_sku.keys())).items()):
                by_sku[key.sku].append(level)
            available = {sku: sum(lv.available for lv in found) for sku, found in by_sku.items()}
            return {
                sku: SkuLevels(sku, [], True, kit_rules.kits_possible(leaves[sku], available))
                if sku in kit_skus
                else SkuLevels(sku, by_sku[sku])
                for sku in skus
            }

        return await self._transactions.read(work)

    async def availability(
        self, lines: Sequence[Line], location_ids: Sequence[str] = ()
    ) -> list[LineAvailability]:
        """Available units (a kit: whole kits) for each line, in line order, over all
        locations or only ``location_ids`` (NotFound for an unregistered one): what
        ReserveStock of these lines with the same locations could hold, by the same rules
        (each line from what the lines before it would leave).

        Unregistered and deactivated SKUs have nothing available: pricing asks about
        whatever is in a cart, and a quote must not fail because a SKU is new. A short
        line also says what backorders, preorders and expected receipts could do for it
        (one more read, only when some line is short: the usual quote of what is in stock
        costs one statement); the lines after it then count what its backorders leave,
        as the reservation would.
        """
        check = AvailabilityCheck(tuple(lines), tuple(location_ids))
        (answers,) = await self.batch_availability([check])
        return answers

    async def batch_availability(
        self, checks: Sequence[AvailabilityCheck]
    ) -> list[list[LineAvailability]]:
        """Each check answered as ``availability`` answers it alone, in order, from one
        read: the locations of all of them checked once (NotFound for an unregistered
        one), the levels of all their SKUs read once (``AvailabilityReads``, shared with
        concurrent calls), and, only when some line is short, the supply of all the short
        SKUs read once. Each check decides on its own share of the read
        (``decide_availability``), so the lines of one never count what another's take.
        """
        location_ids = {location_id for check in checks for location_id in check.location_ids}
        if location_ids:
            await self._require_locations(location_ids)
        wanted = [frozenset(line.sku for line in check.lines) for check in checks]
        read = await self._availability.of(frozenset().union(*wanted))
        decisions = [
            decide_availability(check, share)
            for check, share in zip(checks, shares(read, wanted), strict=True)
        ]
        short: set[str] = set().union(*(decision.short for decision in decisions))
        if not short:
            return [decision.answers for decision in decisions]
        supply = await self._transactions.read(lambda c: _supply_of(c, short))
        now = self._clock()
        return [decision.with_supply(supply, now) for decision in decisions]

    async def _require_locations(self, location_ids: Collection[str]) -> None:
        async def work(connection: AsyncConnection) -> set[str]:
            return (await catalog.known(connection, (), location_ids))[1]

        known = await self._transactions.read(work)
        for location_id in sorted(set(location_ids)):
            if location_id not in known:
                raise errors.location_not_found(location_id)


# What a short line's SKU may still get: its levels, its inventory policies and its open
# expected receipts (read again, after the availability read, only for short lines).
Supply = tuple[dict[StockKey, StockLevel], dict[StockKey, InventoryPolicy], list[ExpectedReceipt]]


@dataclass(frozen=True)
class AvailabilityDecision:
    """One check decided on a read (``decide_availability``): its answers, and the SKUs of
    its short lines that backorders, preorders and expected receipts may still serve
    (``short``; none: ``answers`` is the whole answer)."""

    check: AvailabilityCheck
    promisable: list[StockLevel]
    kits: dict[str, tuple[KitComponent, ...]]
    inactive: frozenset[str]
    answers: list[LineAvailability]
    short: frozenset[str]

    def with_supply(self, supply: Supply, now: datetime) -> list[LineAvailability]:
        """The answers once the short SKUs' supply is read (``supply`` may hold other SKUs'
        too: each line looks at its own SKU's rows only). The short lines' backorders are
        counted by ReserveStock's rule (``backorders.coverage``), so the lines after them
        count what they leave; each short line says what could still serve it."""
        if not self.short:
            return self.answers
        found, policed, receipts = supply
        coverage = backorders.coverage(self.promisable, policed, now)
        answers = rules.availability(
            self.check.lines, self.promisable, self.kits, self.inactive, coverage
        )
        return [
            _with_supply(a, found, policed, receipts, now, self.check.location_ids)
            if a.sku in self.short and not a.satisfiable
            else a
            for a in answers
        ]


def decide_availability(check: AvailabilityCheck, read: PromiseRead) -> AvailabilityDecision:
    """What ``check`` gets from ``read`` (the levels, kit definitions and deactivated SKUs
    of at least its SKUs), by the rules ReserveStock allocates with: the one decision
    CheckAvailability and BatchCheckAvailability make per request."""
    kit_lines = {
        line.sku: kit_rules.flatten(line.sku, read.definitions)
        for line in check.lines
        if line.sku in read.definitions
    }
    promisable = rules.promisable(read.levels.values(), check.location_ids)
    answers = rules.availability(check.lines, promisable, kit_lines, read.inactive)
    short = frozenset(
        a.sku
        for a in answers
        if not a.satisfiable and a.sku not in read.inactive and a.sku not in kit_lines
    )
    return AvailabilityDecision(check, promisable, kit_lines, read.inactive, answers, short)


async def _supply_of(connection: AsyncConnection, skus: set[str]) -> Supply:
    return (
        await levels.read_skus(connection, skus),
        await policies.of_skus(connection, skus),
        await expected_receipts.open_of_skus(connection, skus),
    )


def _with_supply(
    answer: LineAvailability,
    found: dict[StockKey, StockLevel],
    policed: dict[StockKey, InventoryPolicy],
    receipts: list[ExpectedReceipt],
    now: datetime,
    location_ids: Sequence[str] = (),
) -> LineAvailability:
    """A short line's answer with what the rules of ReserveStock and of receipts say
    could still serve it (at the request's locations, if it names some)."""
    wanted = set(location_ids)
    at = [
        level
        for key, level in found.items()
        if key.sku == answer.sku and (not wanted or key.location_id in wanted)
    ]
    of_sku = [
        r for r in receipts if r.sku == answer.sku and (not wanted or r.location_id in wanted)
    ]
    room = backorders.backorder_room(at, policed, now)
    return dataclasses.replace(
        answer,
        backorderable=room.backorderable,
        preorderable=room.preorderable,
        incoming=sum(r.remaining for r in of_sku),
        available_time=incoming.available_time(answer.requested - answer.available, at, of_sku),
    )


def _expect(result: object, kind: type[R]) -> R:
    assert isinstance(result, kind), f"expected a {kind.__name__}, got {result!r}"
    return result
