"""What renaming, deactivating and reactivating do to an item.

Each returns the item as it is after the change, or the item itself when the
change is already true (deactivating an inactive item keeps its first reason),
so a repeat is a no-op that answers the item.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from stockroom.inventory.domain.model import Item, ItemState


def renamed(item: Item, display_name: str, now: datetime) -> Item:
    if item.display_name == display_name:
        return item
    return dataclasses.replace(item, display_name=display_name, update_time=now)


def deactivated(item: Item, reason: str, now: datetime) -> Item:
    """No new reservation may take it; what it holds and its stock stay as they are."""
    if item.state is ItemState.INACTIVE:
        return item
    return dataclasses.replace(
        item, state=ItemState.INACTIVE, deactivation_reason=reason, update_time=now
    )


def reactivated(item: Item, now: datetime) -> Item:
    if item.state is ItemState.ACTIVE:
        return item
    return dataclasses.replace(
        item, state=ItemState.ACTIVE, deactivation_reason="", update_time=now
    )
