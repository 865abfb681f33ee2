"""The inventory's events: every ledger entry, and the thresholds it crosses, into the outbox.

Appended by the write path in the transaction that writes the entries, so an
event exists exactly when its entry does (``stockroom.common.events``). Ids
come from ledger positions, so a republished event keeps its id and JetStream
keeps it once. All events of one level share a subject, and the write path
holds that level's lock when it appends them, so they leave in commit order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.events import Event, EventsConfig, append, subject_token
from stockroom.inventory.api import responses
from stockroom.inventory.domain.model import Movement, StockKey, StockLevel
from stockroom.inventory.domain.thresholds import Threshold, ThresholdCrossing, crossings
from stockroom.inventory.v1 import events_pb2, inventory_pb2

MOVEMENT_RECORDED = "stockroom.inventory.v1.movement_recorded"
THRESHOLD_TYPES = {t: f"stockroom.inventory.v1.{t.value}" for t in Threshold}
_PROTO_THRESHOLDS = {
    Threshold.OUT_OF_STOCK: events_pb2.STOCK_THRESHOLD_OUT_OF_STOCK,
    Threshold.BACK_IN_STOCK: events_pb2.STOCK_THRESHOLD_BACK_IN_STOCK,
    Threshold.BELOW_REORDER_POINT: events_pb2.STOCK_THRESHOLD_BELOW_REORDER_POINT,
}


class LedgerEvents:
    """Turns a batch's ledger entries into outbox rows."""

    def __init__(self, config: EventsConfig, outbox: Table) -> None:
        self._config = config
        self._outbox = outbox

    def subject(self, key: StockKey) -> str:
        """``stockroom.inventory.stock.<sku>.<location>``: one subject per level."""
        return self._config.subject("stock", subject_token(key.sku), subject_token(key.location_id))

    def events(
        self, entries: Sequence[Movement], before: Mapping[StockKey, StockLevel]
    ) -> list[Event]:
        """Each entry's event, followed by those of the thresholds it crossed."""
        crossed: dict[int, list[ThresholdCrossing]] = {}
        for crossing in crossings(entries, before):
            crossed.setdefault(crossing.entry.sequence, []).append(crossing)
        found: list[Event] = []
        for entry in entries:
            key = entry.level.key
            subject, about = self.subject(key), f"{key.sku}@{key.location_id}"
            found.append(
                Event(
                    subject,
                    MOVEMENT_RECORDED,
                    responses.movement(entry),
                    about=about,
                    dedupe_id=f"ledger-{entry.sequence}",
                )
            )
            for crossing in crossed.get(entry.sequence, []):
                suffix = crossing.threshold.value.replace("_", "-")
                found.append(
                    Event(
                        subject,
                        THRESHOLD_TYPES[crossing.threshold],
                        threshold_message(crossing),
                        about=about,
                        dedupe_id=f"ledger-{entry.sequence}-{suffix}",
                    )
                )
        return found

    async def append(
        self,
        connection: AsyncConnection,
        entries: Sequence[Movement],
        before: Mapping[StockKey, StockLevel],
        now: datetime,
    ) -> None:
        await append(connection, self._outbox, self.events(entries, before), now)


def threshold_message(crossing: ThresholdCrossing) -> events_pb2.StockThresholdCrossed:
    entry = crossing.entry
    level: inventory_pb2.StockLevel = responses.level(entry.level)
    return events_pb2.StockThresholdCrossed(
        threshold=_PROTO_THRESHOLDS[crossing.threshold],
        level=level,
        previous_available=crossing.previous_available,
        ledger_sequence=entry.sequence,
        create_time=responses.timestamp(entry.create_time),
    )
