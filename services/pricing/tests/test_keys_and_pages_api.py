"""The branch's new creates and lists on common's request keys and page tokens."""

from __future__ import annotations

import uuid

import pytest

from stockroom.common.errors import InvalidArgument
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

from .test_api import cart, set_unit_price
from .test_bulk_api import row
from .test_promotions_v2_api import create_promotion


async def test_a_request_id_reused_for_other_codes_or_another_quote_is_refused(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await set_unit_price(pricing, "MUG", 10)
    coded = await create_promotion(pricing, requires_code=True)
    codes_id = str(uuid.uuid4())
    await pricing.CreateDiscountCodes(
        pb.CreateDiscountCodesRequest(
            promotion_id=coded.promotion_id, codes=["SPRING"], request_id=codes_id
        )
    )
    first, second = [await pricing.Quote(cart(("MUG", 1))) for _ in range(2)]
    redeem_id = str(uuid.uuid4())
    await pricing.RedeemQuote(pb.RedeemQuoteRequest(quote_id=first.quote_id, request_id=redeem_id))

    with pytest.raises(InvalidArgument) as other_codes:
        await pricing.CreateDiscountCodes(
            pb.CreateDiscountCodesRequest(
                promotion_id=coded.promotion_id, codes=["SUMMER"], request_id=codes_id
            )
        )
    with pytest.raises(InvalidArgument) as other_quote:
        await pricing.RedeemQuote(
            pb.RedeemQuoteRequest(quote_id=second.quote_id, request_id=redeem_id)
        )
    with pytest.raises(InvalidArgument) as without_id:
        await pricing.RedeemQuote(pb.RedeemQuoteRequest(quote_id=second.quote_id))

    assert other_codes.value.reason == "REQUEST_ID_REUSED"
    assert other_quote.value.reason == "REQUEST_ID_REUSED"
    assert without_id.value.reason == "REQUIRED"
    assert [v.field for v in without_id.value.field_violations] == ["request_id"]


async def test_a_bulk_row_retried_alone_through_set_price_records_once(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    mug = row("MUG", 10)
    bulk = await pricing.SetPrices(pb.SetPricesRequest(prices=[mug, row("TEE", 5)]))
    alone = await pricing.SetPrice(mug)
    history = await pricing.ListPrices(pb.ListPricesRequest(sku="MUG"))

    assert alone.price.price_id == bulk.results[0].price.price_id
    assert len(history.prices) == 1


async def test_a_page_token_is_valid_only_with_the_filters_it_was_issued_for(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await pricing.SetPrices(pb.SetPricesRequest(prices=[row("MUG", 10), row("TEE", 5)]))
    await create_promotion(pricing)
    await create_promotion(pricing, display_name="Second")
    prices_page = await pricing.ListPricesInList(
        pb.ListPricesInListRequest(currency_code="USD", page_size=1)
    )
    promotions_page = await pricing.ListPromotions(
        pb.ListPromotionsRequest(states=[pb.PROMOTION_STATE_ACTIVE], page_size=1)
    )

    with pytest.raises(InvalidArgument) as other_list:
        await pricing.ListPricesInList(
            pb.ListPricesInListRequest(
                currency_code="USD", channel="web", page_token=prices_page.next_page_token
            )
        )
    with pytest.raises(InvalidArgument) as other_states:
        await pricing.ListPromotions(
            pb.ListPromotionsRequest(
                states=[pb.PROMOTION_STATE_PAUSED], page_token=promotions_page.next_page_token
            )
        )
    rest = await pricing.ListPromotions(
        pb.ListPromotionsRequest(
            states=[pb.PROMOTION_STATE_ACTIVE], page_token=promotions_page.next_page_token
        )
    )

    assert prices_page.next_page_token
    assert other_list.value.reason == "INVALID_PAGE_TOKEN"
    assert other_states.value.reason == "INVALID_PAGE_TOKEN"
    assert [p.display_name for p in rest.promotions] == ["Second"]
