"""Use cases for named price lists: create one (once per request id), read them, change status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from stockroom.common.db import Clock, RequestKey
from stockroom.pricing.domain.price_lists import (
    ListStatus,
    PriceList,
    PriceListTerms,
    check_base,
    is_list_id,
    list_not_found,
    status_change,
    validate_list_terms,
)
from stockroom.pricing.domain.validation import (
    check_currency,
    check_request_id,
    new_problems,
    raise_if_any,
)
from stockroom.pricing.store.price_lists import PriceListStore


def nothing() -> None:
    return None


@dataclass(frozen=True)
class StatusChange:
    """A list in its new status, and the list it replaced (archived) if any."""

    price_list: PriceList
    replaced: PriceList | None = None


class PriceListBook:
    def __init__(
        self, store: PriceListStore, clock: Clock, on_change: Callable[[], None] = nothing
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_change = on_change

    async def create(self, terms: PriceListTerms, key: RequestKey | None = None) -> PriceList:
        """A new DRAFT list; a retry with the same request id creates it once."""
        problems = new_problems()
        check_request_id(problems, key.request_id if key else "")
        validate_list_terms(problems, terms)
        raise_if_any(problems)
        if terms.relative is not None:
            check_base(terms, await self._store.get(int(terms.relative.base_list_id)))
        try:
            return await self._store.create(terms, self._clock(), key)
        finally:
            self._on_change()

    async def get(self, list_id: str) -> PriceList:
        found = await self._store.get(int(list_id)) if is_list_id(list_id) else None
        if found is None:
            raise list_not_found(list_id)
        return found

    async def page(
        self, currency_code: str, statuses: frozenset[ListStatus], after_id: int, limit: int
    ) -> list[PriceList]:
        if currency_code:
            problems = new_problems()
            check_currency(problems, "currency_code", currency_code)
            raise_if_any(problems)
        return await self._store.page(currency_code, statuses, after_id, limit)

    async def change_status(
        self, list_id: str, target: ListStatus, *, replace_active: bool = False
    ) -> StatusChange:
        """Move a list to ``target`` (forward only; the status it has changes nothing),
        by ``domain.price_lists.status_change``, decided and written in one transaction."""
        if not is_list_id(list_id):
            raise list_not_found(list_id)

        def decide(
            current: PriceList, active: PriceList | None, now: datetime
        ) -> tuple[PriceList, PriceList | None] | None:
            return status_change(current, target, active, now, replace_active=replace_active)

        try:
            changed, replaced = await self._store.change_status(int(list_id), decide, self._clock)
        finally:
            self._on_change()
        return StatusChange(changed, replaced)
