"""The PricingService servicer: convert the request, call one use case, convert the result."""

from __future__ import annotations

import grpc

from stockroom.common.db import (
    RequestKey,
    decode_page_token,
    next_page_token,
    page_size,
    request_key,
)
from stockroom.pricing.api import prices, promotions, quotes
from stockroom.pricing.api.wire import moment, to_money
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.validation import new_problems, raise_if_any
from stockroom.pricing.price_book import PriceBook
from stockroom.pricing.promotion_book import PromotionBook
from stockroom.pricing.quoter import Quoter
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc


class PricingServicer(pb_grpc.PricingServiceServicer):
    def __init__(
        self, price_book: PriceBook, promotion_book: PromotionBook, quoter: Quoter
    ) -> None:
        self.price_book = price_book
        self.promotion_book = promotion_book
        self.quoter = quoter

    async def SetPrice(
        self,
        request: pb.SetPriceRequest,
        context: grpc.aio.ServicerContext[pb.SetPriceRequest, pb.SetPriceResponse],
    ) -> pb.SetPriceResponse:
        version = await self.price_book.set_price(
            prices.new_price(request), _key("SetPrice", request)
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
        scope = PriceListScope(request.currency_code, request.channel, request.customer_group)
        version = await self.price_book.price_at(request.sku, scope, at)
        return pb.GetPriceResponse(price=prices.price_message(version))

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
        promotion = await self.promotion_book.create(terms, _key("CreatePromotion", request))
        return pb.CreatePromotionResponse(promotion=promotions.promotion_message(promotion))

    async def GetPromotion(
        self,
        request: pb.GetPromotionRequest,
        context: grpc.aio.ServicerContext[pb.GetPromotionRequest, pb.GetPromotionResponse],
    ) -> pb.GetPromotionResponse:
        promotion = await self.promotion_book.get(request.promotion_id)
        return pb.GetPromotionResponse(promotion=promotions.promotion_message(promotion))

    async def ListPromotions(
        self,
        request: pb.ListPromotionsRequest,
        context: grpc.aio.ServicerContext[pb.ListPromotionsRequest, pb.ListPromotionsResponse],
    ) -> pb.ListPromotionsResponse:
        size = page_size(request.page_size)
        has_active_time = request.HasField("active_time")
        filters = {"active_time": request.active_time.ToJsonString() if has_active_time else ""}
        after = decode_page_token(request.page_token, filters, (int,))
        problems = new_problems()
        active = moment(problems, "active_time", request.active_time, has_active_time)
        raise_if_any(problems)
        found = await self.promotion_book.page(_after_id(after), size + 1, active)
        return pb.ListPromotionsResponse(
            promotions=[promotions.promotion_message(p) for p in found[:size]],
            next_page_token=next_page_token([(int(p.promotion_id),) for p in found], size, filters),
        )

    async def Quote(
        self,
        request: pb.QuoteRequest,
        context: grpc.aio.ServicerContext[pb.QuoteRequest, pb.QuoteResponse],
    ) -> pb.QuoteResponse:
        quote = await self.quoter.quote(
            quotes.cart(request), _key("Quote", request), context.time_remaining
        )
        return quotes.quote_message(quote)

    async def GetQuote(
        self,
        request: pb.GetQuoteRequest,
        context: grpc.aio.ServicerContext[pb.GetQuoteRequest, pb.GetQuoteResponse],
    ) -> pb.GetQuoteResponse:
        quote = await self.quoter.get(request.quote_id)
        return pb.GetQuoteResponse(quote=quotes.quote_message(quote))


def _after_id(cursor: tuple[str | int, ...] | None) -> int:
    """Rows are listed by ascending id: resume after the page's last one (0: from the start)."""
    return int(cursor[0]) if cursor else 0


def _key(
    method: str, request: pb.SetPriceRequest | pb.CreatePromotionRequest | pb.QuoteRequest
) -> RequestKey | None:
    """The idempotency key of a create; None when the caller sent no request id (optional here)."""
    return request_key(method, request) if request.request_id else None
