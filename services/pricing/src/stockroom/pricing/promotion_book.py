"""Use cases for promotions: create one (once per request id), read them back."""

from __future__ import annotations

from datetime import datetime

from stockroom.common.db import Clock, RequestKey
from stockroom.common.errors import NotFound, ResourceRef
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.domain.promotions import Promotion, PromotionTerms, validate_terms
from stockroom.pricing.domain.validation import check_request_id, new_problems, raise_if_any
from stockroom.pricing.store.promotions import PromotionStore


class PromotionBook:
    def __init__(self, store: PromotionStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create(self, terms: PromotionTerms, key: RequestKey | None = None) -> Promotion:
        now = self._clock()
        problems = new_problems()
        check_request_id(problems, key.request_id if key else "")
        valid_from = validate_terms(problems, terms, now)
        raise_if_any(problems)
        return await self._store.create(terms, valid_from, now, key)

    async def get(self, promotion_id: str) -> Promotion:
        promotion = None
        if promotion_id.isdigit() and len(promotion_id) < 19:  # ids are BIGINTs
            promotion = await self._store.get(int(promotion_id))
        if promotion is None:
            raise NotFound(
                f"no promotion {promotion_id!r}",
                reason="PROMOTION_NOT_FOUND",
                domain=DOMAIN,
                resource=ResourceRef("promotion", promotion_id),
            )
        return promotion

    async def page(self, after_id: int, limit: int, active_at: datetime | None) -> list[Promotion]:
        return await self._store.page(after_id, limit, active_at)
