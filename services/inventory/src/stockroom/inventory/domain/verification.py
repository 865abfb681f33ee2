"""The ledger's invariant, checked after the fact: a stock level equals the sums of its
ledger entries (on hand, reserved, damaged, quality control), and its reserved units equal
what active reservations still hold there (a kit line's: its components' units).

The write path keeps it by construction (``decide`` writes each level change and its
entry together); this is how an operator, a restore drill or a test proves it held.
"""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def agrees(self) -> bool:
        return (
            self.on_hand == self.ledger_on_hand
            and self.reserved == self.ledger_reserved
            and self.reserved == self.held_by_reservations
            and self.damaged == self.ledger_damaged
            and self.quality_control == self.ledger_quality_control
        )


@dataclass(frozen=True)
class VerificationPage:
    """The levels of one page that disagree, how many it checked, and where the next page
    starts (None when every level was checked)."""

    mismatches: tuple[LevelAccount, ...]
    checked: int
    next_cursor: tuple[str, str] | None
