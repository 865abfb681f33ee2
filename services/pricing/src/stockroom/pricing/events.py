"""Pricing's events: every price recorded, promotion version and price list status, into the
common outbox (``stockroom.common.events``), published by the common relay.

Subjects (``<prefix>`` is ``stockroom.pricing``; tokens through ``subject_token``):
``<prefix>.price.<currency>.<sku>``, ``<prefix>.promotion.<id>``,
``<prefix>.price_list.<id>``. Payloads are the API's own messages (``Price``,
``Promotion``, ``PriceList``), so consumers decode them like GetPrice answers. The
envelope's ``subject`` is the SKU for a price, ``promotions/<id>`` and
``priceLists/<id>`` for the others.
Ids name the change, so a republished event keeps its id: ``price-<price id>``,
``promotion-<id>-v<version>``, ``price-list-<id>-<status>`` (status moves
forward only, so each is reached once). docs/events.md is the consumers' page.

Rows are written whether or not publishing is on: every replica's cache reads
them (``store.changes``). Off, they are written settled and never published.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.events import Event, EventsConfig, subject_token
from stockroom.pricing.api.price_lists import price_list_message
from stockroom.pricing.api.prices import price_message
from stockroom.pricing.api.promotions import promotion_message
from stockroom.pricing.domain.price_lists import PriceList
from stockroom.pricing.domain.prices import PriceVersion
from stockroom.pricing.domain.promotions import Promotion
from stockroom.pricing.store.changes import append_in_order

PRICE_RECORDED = "stockroom.pricing.v1.price_recorded"
PROMOTION_CHANGED = "stockroom.pricing.v1.promotion_changed"
PRICE_LIST_CHANGED = "stockroom.pricing.v1.price_list_changed"


class CatalogEvents:
    """The ``store.changes.ChangeRecorder`` of a pricing process."""

    def __init__(self, config: EventsConfig) -> None:
        self._config = config

    async def price_recorded(
        self, connection: AsyncConnection, version: PriceVersion, now: datetime
    ) -> None:
        subject = self._config.subject(
            "price", subject_token(version.scope.currency_code), subject_token(version.sku)
        )
        event = Event(
            subject,
            PRICE_RECORDED,
            price_message(version),
            about=version.sku,
            dedupe_id=f"price-{version.price_id}",
        )
        await self._append(connection, event, now)

    async def promotion_changed(
        self, connection: AsyncConnection, promotion: Promotion, now: datetime
    ) -> None:
        pid = promotion.promotion_id
        event = Event(
            self._config.subject("promotion", subject_token(pid)),
            PROMOTION_CHANGED,
            promotion_message(promotion, now),
            about=f"promotions/{pid}",
            dedupe_id=f"promotion-{pid}-v{promotion.version}",
        )
        await self._append(connection, event, now)

    async def price_list_changed(
        self, connection: AsyncConnection, price_list: PriceList, now: datetime
    ) -> None:
        list_id = price_list.list_id
        event = Event(
            self._config.subject("price_list", subject_token(list_id)),
            PRICE_LIST_CHANGED,
            price_list_message(price_list),
            about=f"priceLists/{list_id}",
            dedupe_id=f"price-list-{list_id}-{price_list.status.value.lower()}",
        )
        await self._append(connection, event, now)

    async def _append(self, connection: AsyncConnection, event: Event, now: datetime) -> None:
        await append_in_order(connection, [event], now, settled=not self._config.enabled)
