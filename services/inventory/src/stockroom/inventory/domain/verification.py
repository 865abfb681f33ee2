"""The ledger's invariant, checked after the fact: a stock level equals the sums of its
ledger entries (on hand, reserved, damaged, quality control, backordered, incoming), its
reserved units equal what active reservations still hold there (a kit line's: its
components' units), its backordered units what they still wait for there, and its
incoming units what open expected receipts still bring there.

The write path keeps it by construction (``decide`` writes each level change and its
entry together); this is how an operator, a restore drill or a test proves it held.
"""

from __future__ import annotations

from dataclasses import dataclass

from stockroom.inventory.domain.model import Allocation
from stockroom.inventory.domain.supply import Backorder


@dataclass(frozen=True)
class LevelAccount:
    """One stock level beside what its ledger entries and the active reservations add up to."""

    sku: str
    location_id: str
    on_hand: int
    reserved: int
    ledger_on_hand: int
    ledger_reserved: int
    held_by_reservations: int
    damaged: int = 0
    ledger_damaged: int = 0
    quality_control: int = 0
    ledger_quality_control: int = 0
    backordered: int = 0
    ledger_backordered: int = 0
    waiting_backorders: int = 0
    incoming: int = 0
    ledger_incoming: int = 0
    open_incoming: int = 0

    @property
    def agrees(self) -> bool:
        return (
            self.on_hand == self.ledger_on_hand
            and self.reserved == self.ledger_reserved
            and self.reserved == self.held_by_reservations
            and self.damaged == self.ledger_damaged
            and self.quality_control == self.ledger_quality_control
            and self.backordered == self.ledger_backordered
            and self.backordered == self.waiting_backorders
            and self.incoming == self.ledger_incoming
            and self.incoming == self.open_incoming
        )


@dataclass(frozen=True)
class VerificationPage:
    """The levels of one page that disagree, how many it checked, and where the next page
    starts (None when every level was checked)."""

    mismatches: tuple[LevelAccount, ...]
    checked: int
    next_cursor: tuple[str, str] | None


# What the database sums up, counted by the model's own definitions (sums of allocations'
# and backorders' columns: the definitions are linear, so they hold for sums too).


def still_held(quantity: int, confirmed: int, released: int, expired: int) -> int:
    return Allocation("", "", quantity, confirmed, released, expired).held


def still_waiting(quantity: int, filled: int, cancelled: int) -> int:
    return Backorder("", "", quantity, filled, cancelled, False, "", 0).outstanding


def still_incoming(quantity: int, received: int) -> int:
    """Of OPEN expected receipts (a receipt is RECEIVED once it received its quantity)."""
    return quantity - received
