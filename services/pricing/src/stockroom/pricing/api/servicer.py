"""The PricingService servicer: convert the request, call one use case, convert the result."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from stockroom.common.db import decode_page_token, next_page_token, page_size
from stockroom.pricing.api import (
    bulk,
    explanations,
    price_lists,
    prices,
    promotions,
    quotes,
    redemptions,
)
from stockroom.pricing.api.keys import optional_key
from stockroom.pricing.api.wire import moment, to_money
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.promotions import LifecycleChange, Promotion
from stockroom.pricing.domain.validation import new_problems, raise_if_any
from stockroom.pricing.price_book import PriceBook
from stockroom.pricing.price_list_book import PriceListBook
from stockroom.pricing.promotion_book import PromotionBook
from stockroom.pricing.quoter import Quoter
from stockroom.pricing.redemption_book import RedemptionBook
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc


class PricingServicer(pb_grpc.PricingServiceServicer):
    def __init__(
        self,
        price_book: PriceBook,
        promotion_book: PromotionBook,
        quoter: Quoter,
        redemption_book: RedemptionBook,
        price_list_book: PriceListBook,
    ) -> None:
        self.price_book = price_book
        self.promotion_book = promotion_book
        self.quoter = quoter
        self.redemption_book = redemption_book
        self.price_list_book = price_list_book

    async def SetPrice(
        self,
        request: pb.SetPriceRequest,
        context: grpc.aio.ServicerContext[pb.SetPriceRequest, pb.SetPriceResponse],
    ) -> pb.SetPriceResponse:
        version = await self.price_book.set_price(
            prices.new_price(request), optional_key("SetPrice", request)
        )
        response = pb.SetPriceResponse(price=prices.price_message(version))
        unit_amount = version.schedule.unit_amount_minor
        if unit_amount is not None:
            response.unit_price.CopyFrom(to_money(unit_amount, version.scope.currency_code))
        return response

    async def GetPrice(
        self,
        request: pb.GetPriceRequest,
        context: grpc.aio.ServicerContext[pb.GetPriceRequest, pb.GetPriceResponse],
    ) -> pb.GetPriceResponse:
        problems = new_problems()
        at = moment(problems, "price_time", request.price_time, request.HasField("price_time"))
        raise_if_any(problems)
        scope = PriceListScope(
            request.currency_code, request.channel, request.customer_group, request.country
        )
        quantity = request.quantity or 1
        if not request.explain:
            version = await self.price_book.price_at(request.sku, scope, at, quantity)
            return pb.GetPriceResponse(price=prices.price_message(version))
        version, explanation = await self.price_book.explain(request.sku, scope, at, quantity)
        return pb.GetPriceResponse(
            price=prices.price_message(version),
            explanation=explanations.price_explanation_message(explanation),
        )

    async def ListPrices(
        self,
        request: pb.ListPricesRequest,
        context: grpc.aio.ServicerContext[pb.ListPricesRequest, pb.ListPricesResponse],
    ) -> pb.ListPricesResponse:
        size = page_size(request.page_size)
        filters = {"sku": request.sku, "currency_code": request.currency_code}
        after = decode_page_token(request.page_token, filters, (int,))
        versions = await self.price_book.history(
            request.sku, request.currency_code, _after_id(after), size + 1
        )
        return pb.ListPricesResponse(
            prices=[prices.price_message(v) for v in versions[:size]],
            next_page_token=next_page_token([(int(v.price_id),) for v in versions], size, filters),
        )

    async def CreatePromotion(
        self,
        request: pb.CreatePromotionRequest,
        context: grpc.aio.ServicerContext[pb.CreatePromotionRequest, pb.CreatePromotionResponse],
    ) -> pb.CreatePromotionResponse:
        terms = promotions.promotion_terms(request)
        promotion = await self.promotion_book.create(
            terms, optional_key("CreatePromotion", request)
        )
        return pb.CreatePromotionResponse(promotion=self._promotion(promotion))

    async def GetPromotion(
        self,
        request: pb.GetPromotionRequest,
        context: grpc.aio.ServicerContext[pb.GetPromotionRequest, pb.GetPromotionResponse],
    ) -> pb.GetPromotionResponse:
        promotion = await self.promotion_book.get(request.promotion_id)
        return pb.GetPromotionResponse(
            promotion=promotions.promotion_message(promotion, self.promotion_book.now())
        )

    async def ListPromotions(
        self,
        request: pb.ListPromotionsRequest,
        context: grpc.aio.ServicerContext[pb.ListPromotionsRequest, pb.ListPromotionsResponse],
    ) -> pb.ListPromotionsResponse:
        size = page_size(request.page_size)
        has_active_time = request.HasField("active_time")
        problems = new_problems()
        active = moment(problems, "active_time", request.active_time, has_active_time)
        raise_if_any(problems)  # before ToJsonString, which raises on an invalid timestamp
        filters = {
            "active_time": request.active_time.ToJsonString() if has_active_time else "",
            "states": sorted(set(request.states)),
        }
        after = decode_page_token(request.page_token, filters, (int,))
        found = await self.promotion_book.page(
            _after_id(after), size + 1, active, promotions.states(request.states)
        )
        now = self.promotion_book.now()
        return pb.ListPromotionsResponse(
            promotions=[promotions.promotion_message(p, now) for p in found[:size]],
            next_page_token=next_page_token([(int(p.promotion_id),) for p in found], size, filters),
        )

    async def Quote(
        self,
        request: pb.QuoteRequest,
        context: grpc.aio.ServicerContext[pb.QuoteRequest, pb.QuoteResponse],
    ) -> pb.QuoteResponse:
        quote = await self.quoter.quote(quotes.cart(request), optional_key("Quote", request))
        return quotes.quote_message(quote)

    async def GetQuote(
        self,
        request: pb.GetQuoteRequest,
        context: grpc.aio.ServicerContext[pb.GetQuoteRequest, pb.GetQuoteResponse],
    ) -> pb.GetQuoteResponse:
        quote = await self.quoter.get(request.quote_id)
        return pb.GetQuoteResponse(quote=quotes.quote_message(quote))

    async def UpdatePromotion(
        self,
        request: pb.UpdatePromotionRequest,
        context: grpc.aio.ServicerContext[pb.UpdatePromotionRequest, pb.UpdatePromotionResponse],
    ) -> pb.UpdatePromotionResponse:
        terms = promotions.promotion_terms(request)
        promotion = await self.promotion_book.update(
            request.promotion.promotion_id, terms, request.expected_version
        )
        return pb.UpdatePromotionResponse(promotion=self._promotion(promotion))

    async def PausePromotion(
        self,
        request: pb.PausePromotionRequest,
        context: grpc.aio.ServicerContext[pb.PausePromotionRequest, pb.PausePromotionResponse],
    ) -> pb.PausePromotionResponse:
        promotion = await self.promotion_book.change(request.promotion_id, LifecycleChange.PAUSE)
        return pb.PausePromotionResponse(promotion=self._promotion(promotion))

    async def ResumePromotion(
        self,
        request: pb.ResumePromotionRequest,
        context: grpc.aio.ServicerContext[pb.ResumePromotionRequest, pb.ResumePromotionResponse],
    ) -> pb.ResumePromotionResponse:
        promotion = await self.promotion_book.change(request.promotion_id, LifecycleChange.RESUME)
        return pb.ResumePromotionResponse(promotion=self._promotion(promotion))

    async def EndPromotion(
        self,
        request: pb.EndPromotionRequest,
        context: grpc.aio.ServicerContext[pb.EndPromotionRequest, pb.EndPromotionResponse],
    ) -> pb.EndPromotionResponse:
        promotion = await self.promotion_book.change(request.promotion_id, LifecycleChange.END)
        return pb.EndPromotionResponse(promotion=self._promotion(promotion))

    async def CreateDiscountCodes(
        self,
        request: pb.CreateDiscountCodesRequest,
        context: grpc.aio.ServicerContext[
            pb.CreateDiscountCodesRequest, pb.CreateDiscountCodesResponse
        ],
    ) -> pb.CreateDiscountCodesResponse:
        codes = await self.promotion_book.create_codes(
            request.promotion_id,
            list(request.codes),
            request.generate_count,
            request.prefix,
            request.max_uses_per_code or None,
            optional_key("CreateDiscountCodes", request),
        )
        return pb.CreateDiscountCodesResponse(codes=[promotions.code_message(c) for c in codes])

    async def RedeemQuote(
        self,
        request: pb.RedeemQuoteRequest,
        context: grpc.aio.ServicerContext[pb.RedeemQuoteRequest, pb.RedeemQuoteResponse],
    ) -> pb.RedeemQuoteResponse:
        redemption = await self.redemption_book.redeem(
            request.quote_id, optional_key("RedeemQuote", request)
        )
        return pb.RedeemQuoteResponse(redemption=redemptions.redemption_message(redemption))

    async def ReleaseRedemption(
        self,
        request: pb.ReleaseRedemptionRequest,
        context: grpc.aio.ServicerContext[
            pb.ReleaseRedemptionRequest, pb.ReleaseRedemptionResponse
        ],
    ) -> pb.ReleaseRedemptionResponse:
        redemption = await self.redemption_book.release(request.redemption_id)
        return pb.ReleaseRedemptionResponse(redemption=redemptions.redemption_message(redemption))

    async def SetPrices(
        self,
        request: pb.SetPricesRequest,
        context: grpc.aio.ServicerContext[pb.SetPricesRequest, pb.SetPricesResponse],
    ) -> pb.SetPricesResponse:
        bulk.check_batch(request.prices)
        results = await bulk.record_rows(self.price_book, request.prices)
        failed = sum(1 for r in results if r.error_reason)
        return pb.SetPricesResponse(results=results, recorded=len(results) - failed, failed=failed)

    async def ImportPrices(
        self,
        request_iterator: AsyncIterator[pb.ImportPricesRequest],
        context: grpc.aio.ServicerContext[pb.ImportPricesRequest, pb.ImportPricesResponse],
    ) -> AsyncIterator[pb.ImportPricesResponse]:
        async for progress in bulk.import_prices(self.price_book, request_iterator):
            yield progress

    async def ListPricesInList(
        self,
        request: pb.ListPricesInListRequest,
        context: grpc.aio.ServicerContext[pb.ListPricesInListRequest, pb.ListPricesInListResponse],
    ) -> pb.ListPricesInListResponse:
        size = page_size(request.page_size)
        scope = PriceListScope(
            request.currency_code, request.channel, request.customer_group, request.country
        )
        filters = {
            "currency_code": scope.currency_code,
            "channel": scope.channel,
            "customer_group": scope.customer_group,
            "country": scope.country,
            "price_list_id": request.price_list_id,
        }
        after = decode_page_token(request.page_token, filters, (int,))
        versions = await self.price_book.in_list(
            request.price_list_id, scope, _after_id(after), size + 1
        )
        return pb.ListPricesInListResponse(
            prices=[prices.price_message(v) for v in versions[:size]],
            next_page_token=next_page_token([(int(v.price_id),) for v in versions], size, filters),
        )

    async def CreatePriceList(
        self,
        request: pb.CreatePriceListRequest,
        context: grpc.aio.ServicerContext[pb.CreatePriceListRequest, pb.CreatePriceListResponse],
    ) -> pb.CreatePriceListResponse:
        created = await self.price_list_book.create(
            price_lists.list_terms(request), optional_key("CreatePriceList", request)
        )
        return pb.CreatePriceListResponse(price_list=price_lists.price_list_message(created))

    async def GetPriceList(
        self,
        request: pb.GetPriceListRequest,
        context: grpc.aio.ServicerContext[pb.GetPriceListRequest, pb.GetPriceListResponse],
    ) -> pb.GetPriceListResponse:
        found = await self.price_list_book.get(request.price_list_id)
        return pb.GetPriceListResponse(price_list=price_lists.price_list_message(found))

    async def ListPriceLists(
        self,
        request: pb.ListPriceListsRequest,
        context: grpc.aio.ServicerContext[pb.ListPriceListsRequest, pb.ListPriceListsResponse],
    ) -> pb.ListPriceListsResponse:
        size = page_size(request.page_size)
        statuses = price_lists.statuses(request.statuses)
        filters = {
            "currency_code": request.currency_code,
            "statuses": sorted(s.value for s in statuses),
        }
        after = decode_page_token(request.page_token, filters, (int,))
        found = await self.price_list_book.page(
            request.currency_code, statuses, _after_id(after), size + 1
        )
        return pb.ListPriceListsResponse(
            price_lists=[price_lists.price_list_message(p) for p in found[:size]],
            next_page_token=next_page_token([(int(p.list_id),) for p in found], size, filters),
        )

    async def UpdatePriceListStatus(
        self,
        request: pb.UpdatePriceListStatusRequest,
        context: grpc.aio.ServicerContext[
            pb.UpdatePriceListStatusRequest, pb.UpdatePriceListStatusResponse
        ],
    ) -> pb.UpdatePriceListStatusResponse:
        target = price_lists.target_status("status", request.status)
        change = await self.price_list_book.change_status(
            request.price_list_id, target, replace_active=request.replace_active
        )
        response = pb.UpdatePriceListStatusResponse(
            price_list=price_lists.price_list_message(change.price_list)
        )
        if change.replaced is not None:
            response.replaced.CopyFrom(price_lists.price_list_message(change.replaced))
        return response

    def _promotion(self, promotion: Promotion) -> pb.Promotion:
        return promotions.promotion_message(promotion, self.promotion_book.now())


def _after_id(cursor: tuple[str | int, ...] | None) -> int:
    """Rows are listed by ascending id: resume after the page's last one (0: from the start)."""
    return int(cursor[0]) if cursor else 0
