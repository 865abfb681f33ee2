"""Use cases for promotions: create one (once per request id), read them back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from stockroom.common.db import Clock, RequestKey
from stockroom.common.errors import Aborted, NotFound, ResourceRef
from stockroom.pricing.domain import codes as discount_codes
from stockroom.pricing.domain.codes import DiscountCode
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.domain.promotions import (
    LifecycleChange,
    Promotion,
    PromotionState,
    PromotionTerms,
    change_status,
    updated,
    validate_terms,
)
from stockroom.pricing.domain.validation import check_request_id, new_problems, raise_if_any
from stockroom.pricing.store.promotions import PromotionStore, VersionConflict

# A lifecycle change that loses a race with another change reads again and
# retries; a promotion changed this often at once is a caller's bug.
MAX_CHANGE_ATTEMPTS = 5


def nothing() -> None:
    return None


class PromotionBook:
    def __init__(
        self, store: PromotionStore, clock: Clock, on_change: Callable[[], None] = nothing
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_change = on_change

    def now(self) -> datetime:
        return self._clock()

    async def create(self, terms: PromotionTerms, key: RequestKey | None = None) -> Promotion:
        now = self._clock()
        problems = new_problems()
        check_request_id(problems, key.request_id if key else "")
        valid_from = validate_terms(problems, terms, now)
        raise_if_any(problems)
        try:
            return await self._store.create(terms, valid_from, now, key)
        finally:
            self._on_change()

    async def get(self, promotion_id: str) -> Promotion:
        promotion = None
        # ids are BIGINTs written in ASCII digits ("²".isdigit() is True, int("²") fails)
        if promotion_id.isascii() and promotion_id.isdigit() and len(promotion_id) < 19:
            promotion = await self._store.get(int(promotion_id))
        if promotion is None:
            raise NotFound(
                f"no promotion {promotion_id!r}",
                reason="PROMOTION_NOT_FOUND",
                domain=DOMAIN,
                resource=ResourceRef("promotion", promotion_id),
            )
        return promotion

    async def page(
        self,
        after_id: int,
        limit: int,
        active_at: datetime | None,
        states: frozenset[PromotionState] = frozenset(),
    ) -> list[Promotion]:
        moment = active_at or self._clock()
        return await self._store.page(after_id, limit, active_at, states, moment)

    async def update(
        self, promotion_id: str, terms: PromotionTerms, expected_version: int
    ) -> Promotion:
        """A new version with ``terms`` (``promotions.updated`` has the rules)."""
        current = await self.get(promotion_id)
        try:
            return await self._store.save_version(
                updated(current, terms, expected_version, self._clock()), current.version
            )
        except VersionConflict:
            raise _conflict(promotion_id) from None
        finally:
            self._on_change()

    async def change(self, promotion_id: str, change: LifecycleChange) -> Promotion:
        """Pause, resume or end: a new version, or the promotion as it is when it is
        already so (a retry changes nothing)."""
        for _ in range(MAX_CHANGE_ATTEMPTS):
            current = await self.get(promotion_id)
            changed = change_status(current, change, self._clock())
            if changed is None:
                return current
            try:
                return await self._store.save_version(changed, current.version)
            except VersionConflict:
                continue
            finally:
                self._on_change()
        raise _conflict(promotion_id)

    async def create_codes(
        self,
        promotion_id: str,
        named: list[str],
        generate_count: int,
        prefix: str,
        max_uses: int | None,
        key: RequestKey | None = None,
    ) -> list[DiscountCode]:
        """Named codes and ``generate_count`` random ones for a promotion, once per request id."""
        problems = new_problems()
        check_request_id(problems, key.request_id if key else "")
        named = [discount_codes.normalize(code) for code in named]
        prefix = discount_codes.normalize(prefix)
        for i, code in enumerate(named):
            discount_codes.check_code(problems, f"codes[{i}]", code)
        if len(set(named)) != len(named):
            problems.add("codes", "name each code once", "DUPLICATE_CODE")
        if not 0 <= generate_count <= discount_codes.MAX_CODES_PER_CALL:
            problems.add(
                "generate_count",
                f"must be 0-{discount_codes.MAX_CODES_PER_CALL}",
                "OUT_OF_RANGE",
            )
        if len(named) + max(generate_count, 0) == 0:
            problems.add("codes", "name codes or ask for generated ones", "EMPTY")
        if len(named) > discount_codes.MAX_CODES_PER_CALL:
            problems.add("codes", f"at most {discount_codes.MAX_CODES_PER_CALL}", "TOO_MANY")
        if prefix:
            if len(prefix) > discount_codes.MAX_PREFIX_LENGTH:
                problems.add(
                    "prefix",
                    f"at most {discount_codes.MAX_PREFIX_LENGTH} characters",
                    "TOO_LONG",
                )
            else:
                discount_codes.check_code(problems, "prefix", prefix + "XXX")
        if max_uses is not None and max_uses < 0:
            problems.add("max_uses_per_code", "must not be negative", "NEGATIVE")
        raise_if_any(problems)
        promotion = await self.get(promotion_id)
        return await self._store.create_codes(
            int(promotion.promotion_id),
            named,
            lambda: discount_codes.generate(generate_count, prefix),
            max_uses or None,
            self._clock(),
            key,
        )


def _conflict(promotion_id: str) -> Aborted:
    return Aborted(
        f"promotion {promotion_id} was changed meanwhile; read it again and retry",
        reason="CONCURRENT_CHANGE",
        domain=DOMAIN,
    )
