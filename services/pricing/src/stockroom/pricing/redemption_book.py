"""Use cases for redemptions: consume a quote's promotions on order placement, give them back."""

from __future__ import annotations

from stockroom.common.db import Clock, RequestKey
from stockroom.common.errors import NotFound, ResourceRef
from stockroom.pricing.domain.money import DOMAIN
from stockroom.pricing.domain.quotes import Quote
from stockroom.pricing.domain.validation import check_request_id, new_problems, raise_if_any
from stockroom.pricing.quoter import Quoter
from stockroom.pricing.store.redemptions import RedeemedPromotion, Redemption, RedemptionStore


def consumed(quote: Quote) -> list[RedeemedPromotion]:
    """What redeeming ``quote`` consumes: per promotion, one use and the discount it gave
    (its line discounts and line shares of a cart discount), with the code it used."""
    amounts: dict[str, int] = {}
    codes: dict[str, str] = {}
    for line in quote.priced.lines:
        for discount in line.discounts:
            amounts[discount.promotion_id] = (
                amounts.get(discount.promotion_id, 0) + discount.amount_minor
            )
            codes[discount.promotion_id] = codes.get(discount.promotion_id) or discount.code
    return [RedeemedPromotion(pid, codes[pid], amount) for pid, amount in amounts.items()]


class RedemptionBook:
    def __init__(self, store: RedemptionStore, quoter: Quoter, clock: Clock) -> None:
        self._store = store
        self._quoter = quoter
        self._clock = clock

    async def redeem(self, quote_id: str, key: RequestKey | None) -> Redemption:
        problems = new_problems()
        if key is None:
            problems.add("request_id", "is required: a redemption must happen once", "REQUIRED")
        else:
            check_request_id(problems, key.request_id)
        raise_if_any(problems)
        assert key is not None  # raise_if_any refused a missing one
        quote = await self._quoter.get(quote_id)  # NOT_FOUND, or QUOTE_EXPIRED
        return await self._store.redeem(
            quote.quote_id,
            quote.customer_id,
            quote.scope.currency_code,
            consumed(quote),
            self._clock(),
            key,
        )

    async def release(self, redemption_id: str) -> Redemption:
        redemption = None
        if redemption_id.isascii() and redemption_id.isdigit() and len(redemption_id) < 19:
            redemption = await self._store.release(int(redemption_id), self._clock())
        if redemption is None:
            raise NotFound(
                f"no redemption {redemption_id!r}",
                reason="REDEMPTION_NOT_FOUND",
                domain=DOMAIN,
                resource=ResourceRef("redemption", redemption_id),
            )
        return redemption
