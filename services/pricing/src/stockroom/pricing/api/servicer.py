"""The PricingService servicer: convert the request, call one use case, convert the result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from stockroom.pricing.api import bulk, explanations, prices, promotions, quotes, redemptions
from stockroom.pricing.api.paging import next_page_token, parse_page
from stockroom.pricing.api.wire import moment, to_money
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.promotions import LifecycleChange, Promotion
from stockroom.pricing.domain.validation import new_problems, raise_if_any
from stockroom.pricing.price_book import PriceBook
from stockroom.pricing.promotion_book import PromotionBook
from stockroom.pricing.quoter import Quoter
from stockroom.pricing.redemption_book import RedemptionBook
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

Context = Any


class PricingServicer(pb_grpc.PricingServiceServicer):
    def __init__(
        self,
        price_book: PriceBook,
        promotion_book: PromotionBook,
        quoter: Quoter,
        redemption_book: RedemptionBook,
    ) -> None:
        self.price_book = price_book
        self.promotion_book = promotion_book
        self.quoter = quoter
        self.redemption_book = redemption_book

    async def SetPrice(self, request: pb.SetPriceRequest, context: Context) -> pb.SetPriceResponse:
        version = await self.price_book.set_price(prices.new_price(request), request.request_id)
        response = pb.SetPriceResponse(price=prices.price_message(version))
        unit_amount = version.schedule.unit_amount_minor
        if unit_amount is not None:
            response.unit_price.CopyFrom(to_money(unit_amount, version.scope.currency_code))
        return response

    async def GetPrice(self, request: pb.GetPriceRequest, context: Context) -> pb.GetPriceResponse:
        problems = new_problems()
        at = moment(problems, "price_time", request.price_time, request.HasField("price_time"))
        raise_if_any(problems)
        scope = PriceListScope(
            request.currency_code, request.channel, request.customer_group, request.country
        )
        if not request.explain:
            version = await self.price_book.price_at(request.sku, scope, at)
            return pb.GetPriceResponse(price=prices.price_message(version))
        version, explanation = await self.price_book.explain(request.sku, scope, at)
        return pb.GetPriceResponse(
            price=prices.price_message(version),
            explanation=explanations.price_explanation_message(explanation),
        )

    async def ListPrices(
        self, request: pb.ListPricesRequest, context: Context
    ) -> pb.ListPricesResponse:
        page = parse_page(request.page_size, request.page_token)
        versions = await self.price_book.history(
            request.sku, request.currency_code, page.after_id, page.fetch
        )
        return pb.ListPricesResponse(
            prices=[prices.price_message(v) for v in versions[: page.size]],
            next_page_token=next_page_token(page, [int(v.price_id) for v in versions]),
        )

    async def CreatePromotion(
        self, request: pb.CreatePromotionRequest, context: Context
    ) -> pb.CreatePromotionResponse:
        terms = promotions.promotion_terms(request)
        promotion = await self.promotion_book.create(terms, request.request_id)
        return pb.CreatePromotionResponse(
            promotion=promotions.promotion_message(promotion, self.promotion_book.now())
        )

    async def GetPromotion(
        self, request: pb.GetPromotionRequest, context: Context
    ) -> pb.GetPromotionResponse:
        promotion = await self.promotion_book.get(request.promotion_id)
        return pb.GetPromotionResponse(
            promotion=promotions.promotion_message(promotion, self.promotion_book.now())
        )

    async def ListPromotions(
        self, request: pb.ListPromotionsRequest, context: Context
    ) -> pb.ListPromotionsResponse:
        page = parse_page(request.page_size, request.page_token)
        problems = new_problems()
        active = moment(
            problems, "active_time", request.active_time, request.HasField("active_time")
        )
        raise_if_any(problems)
        found = await self.promotion_book.page(
            page.after_id, page.fetch, active, promotions.states(request.states)
        )
        now = self.promotion_book.now()
        return pb.ListPromotionsResponse(
            promotions=[promotions.promotion_message(p, now) for p in found[: page.size]],
            next_page_token=next_page_token(page, [int(p.promotion_id) for p in found]),
        )

    async def Quote(self, request: pb.QuoteRequest, context: Context) -> pb.QuoteResponse:
        quote = await self.quoter.quote(
            quotes.cart(request), request.request_id, context.time_remaining
        )
        return quotes.quote_message(quote)

    async def GetQuote(self, request: pb.GetQuoteRequest, context: Context) -> pb.GetQuoteResponse:
        quote = await self.quoter.get(request.quote_id)
        return pb.GetQuoteResponse(quote=quotes.quote_message(quote))

    async def UpdatePromotion(
        self, request: pb.UpdatePromotionRequest, context: Context
    ) -> pb.UpdatePromotionResponse:
        terms = promotions.promotion_terms(request)
        promotion = await self.promotion_book.update(
            request.promotion.promotion_id, terms, request.expected_version
        )
        return pb.UpdatePromotionResponse(promotion=self._promotion(promotion))

    async def PausePromotion(
        self, request: pb.PausePromotionRequest, context: Context
    ) -> pb.PausePromotionResponse:
        promotion = await self.promotion_book.change(request.promotion_id, LifecycleChange.PAUSE)
        return pb.PausePromotionResponse(promotion=self._promotion(promotion))

    async def ResumePromotion(
        self, request: pb.ResumePromotionRequest, context: Context
    ) -> pb.ResumePromotionResponse:
        promotion = await self.promotion_book.change(request.promotion_id, LifecycleChange.RESUME)
        return pb.ResumePromotionResponse(promotion=self._promotion(promotion))

    async def EndPromotion(
        self, request: pb.EndPromotionRequest, context: Context
    ) -> pb.EndPromotionResponse:
        promotion = await self.promotion_book.change(request.promotion_id, LifecycleChange.END)
        return pb.EndPromotionResponse(promotion=self._promotion(promotion))

    async def CreateDiscountCodes(
        self, request: pb.CreateDiscountCodesRequest, context: Context
    ) -> pb.CreateDiscountCodesResponse:
        codes = await self.promotion_book.create_codes(
            request.promotion_id,
            list(request.codes),
            request.generate_count,
            request.prefix,
            request.max_uses_per_code or None,
            request.request_id,
        )
        return pb.CreateDiscountCodesResponse(codes=[promotions.code_message(c) for c in codes])

    async def RedeemQuote(
        self, request: pb.RedeemQuoteRequest, context: Context
    ) -> pb.RedeemQuoteResponse:
        redemption = await self.redemption_book.redeem(request.quote_id, request.request_id)
        return pb.RedeemQuoteResponse(redemption=redemptions.redemption_message(redemption))

    async def ReleaseRedemption(
        self, request: pb.ReleaseRedemptionRequest, context: Context
    ) -> pb.ReleaseRedemptionResponse:
        redemption = await self.redemption_book.release(request.redemption_id)
        return pb.ReleaseRedemptionResponse(redemption=redemptions.redemption_message(redemption))

    def _promotion(self, promotion: Promotion) -> pb.Promotion:
        return promotions.promotion_message(promotion, self.promotion_book.now())

    async def SetPrices(
        self, request: pb.SetPricesRequest, context: Context
    ) -> pb.SetPricesResponse:
        bulk.check_batch(request.prices)
        results = await bulk.record_rows(self.price_book, request.prices)
        failed = sum(1 for r in results if r.error_reason)
        return pb.SetPricesResponse(results=results, recorded=len(results) - failed, failed=failed)

    async def ImportPrices(
        self, request_iterator: AsyncIterator[pb.ImportPricesRequest], context: Context
    ) -> AsyncIterator[pb.ImportPricesResponse]:
        async for progress in bulk.import_prices(self.price_book, request_iterator):
            yield progress

    async def ListPricesInList(
        self, request: pb.ListPricesInListRequest, context: Context
    ) -> pb.ListPricesInListResponse:
        page = parse_page(request.page_size, request.page_token)
        scope = PriceListScope(
            request.currency_code, request.channel, request.customer_group, request.country
        )
        versions = await self.price_book.in_list(scope, page.after_id, page.fetch)
        return pb.ListPricesInListResponse(
            prices=[prices.price_message(v) for v in versions[: page.size]],
            next_page_token=next_page_token(page, [int(v.price_id) for v in versions]),
        )
