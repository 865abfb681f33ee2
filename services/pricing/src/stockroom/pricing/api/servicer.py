"""The PricingService servicer: convert the request, call one use case, convert the result."""

from __future__ import annotations

from typing import Any

from stockroom.pricing.api import prices, promotions, quotes
from stockroom.pricing.api.paging import next_page_token, parse_page
from stockroom.pricing.api.wire import moment, to_money
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.validation import new_problems, raise_if_any
from stockroom.pricing.price_book import PriceBook
from stockroom.pricing.promotion_book import PromotionBook
from stockroom.pricing.quoter import Quoter
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

Context = Any


class PricingServicer(pb_grpc.PricingServiceServicer):
    def __init__(
        self, price_book: PriceBook, promotion_book: PromotionBook, quoter: Quoter
    ) -> None:
        self.price_book = price_book
        self.promotion_book = promotion_book
        self.quoter = quoter

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
        scope = PriceListScope(request.currency_code, request.channel, request.customer_group)
        version = await self.price_book.price_at(request.sku, scope, at)
        return pb.GetPriceResponse(price=prices.price_message(version))

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
        return pb.CreatePromotionResponse(promotion=promotions.promotion_message(promotion))

    async def GetPromotion(
        self, request: pb.GetPromotionRequest, context: Context
    ) -> pb.GetPromotionResponse:
        promotion = await self.promotion_book.get(request.promotion_id)
        return pb.GetPromotionResponse(promotion=promotions.promotion_message(promotion))

    async def ListPromotions(
        self, request: pb.ListPromotionsRequest, context: Context
    ) -> pb.ListPromotionsResponse:
        page = parse_page(request.page_size, request.page_token)
        problems = new_problems()
        active = moment(
            problems, "active_time", request.active_time, request.HasField("active_time")
        )
        raise_if_any(problems)
        found = await self.promotion_book.page(page.after_id, page.fetch, active)
        return pb.ListPromotionsResponse(
            promotions=[promotions.promotion_message(p) for p in found[: page.size]],
            next_page_token=next_page_token(page, [int(p.promotion_id) for p in found]),
        )

    async def Quote(self, request: pb.QuoteRequest, context: Context) -> pb.QuoteResponse:
        quote = await self.quoter.quote(quotes.cart(request), request.request_id)
        return quotes.quote_message(quote)

    async def GetQuote(self, request: pb.GetQuoteRequest, context: Context) -> pb.GetQuoteResponse:
        quote = await self.quoter.get(request.quote_id)
        return pb.GetQuoteResponse(quote=quotes.quote_message(quote))
