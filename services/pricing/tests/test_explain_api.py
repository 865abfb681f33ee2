"""Explanations (GetPrice, quote lines) and dry-run quotes over real gRPC."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from stockroom.common.client import connect
from stockroom.common.testing import PATIENT_POLICY
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

from .test_api import cart, cents, timestamp, usd
from .test_promotions_v2_api import create_promotion


async def test_get_price_explains_every_candidate_and_the_fallback(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    everyone = (await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10)))).price
    web = (
        await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(9), channel="web"))
    ).price
    later = (
        await pricing.SetPrice(
            pb.SetPriceRequest(
                sku="MUG",
                unit_price=usd(8),
                channel="web",
                valid_from=timestamp(datetime.now(UTC) + timedelta(days=3)),
            )
        )
    ).price
    vip = (
        await pricing.SetPrice(
            pb.SetPriceRequest(sku="MUG", unit_price=usd(7), customer_group="vip")
        )
    ).price

    answer = await pricing.GetPrice(
        pb.GetPriceRequest(sku="MUG", currency_code="USD", channel="web", explain=True)
    )
    plain = await pricing.GetPrice(pb.GetPriceRequest(sku="MUG", currency_code="USD"))

    verdicts = {c.price.price_id: c.verdict for c in answer.explanation.candidates}
    assert answer.price.price_id == web.price_id
    assert verdicts == {
        everyone.price_id: pb.CANDIDATE_VERDICT_LESS_SPECIFIC,
        web.price_id: pb.CANDIDATE_VERDICT_CHOSEN,
        later.price_id: pb.CANDIDATE_VERDICT_NOT_IN_EFFECT,
        vip.price_id: pb.CANDIDATE_VERDICT_OTHER_SCOPE,
    }
    web_list, every_list = web.price_list_id, everyone.price_list_id
    assert list(answer.explanation.lists_tried) == [
        f"USD/web/*: 'USD/web/*' (#{web_list}, override): a price in effect",
        f"USD/*/*: 'USD/*/*' (#{every_list}, override): a price in effect",
    ]
    assert answer.explanation.fallback == (
        f"took 'USD/web/*' (#{web_list}, override), the list of the cart's own scope"
    )
    assert answer.explanation.price_list.price_list_id == web_list
    assert answer.price.price_list_id == web_list
    assert not plain.HasField("explanation")


async def test_quote_lines_explain_price_tier_and_every_promotion(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10)))
    await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(12), channel="web"))
    ten = await create_promotion(pricing, display_name="Ten", basis_points_off=1000)
    twenty = await create_promotion(pricing, display_name="Twenty", basis_points_off=2000)
    coded = await create_promotion(
        pricing, display_name="Coded", basis_points_off=5000, requires_code=True
    )
    big = await create_promotion(
        pricing, display_name="Big carts", basis_points_off=3000, minimum_quantity=100
    )

    quote = await pricing.Quote(cart(("MUG", 2), channel="web", explain=True))
    plain = await pricing.Quote(cart(("MUG", 2)))
    stored = (await pricing.GetQuote(pb.GetQuoteRequest(quote_id=quote.quote_id))).quote

    explanation = quote.lines[0].explanation
    outcomes = {p.promotion_id: p.outcome for p in explanation.promotions}
    assert cents(quote.discount_total) == 480  # 20 % of 2 x 12
    web_list = quote.lines[0].price_list_id
    assert explanation.price.price_list.display_name == "USD/web/*"  # the list taken
    assert explanation.price.price_list.price_list_id == web_list
    assert explanation.price.fallback == (
        f"took 'USD/web/*' (#{web_list}, override), the list of the cart's own scope"
    )
    assert stored.lines[0].price_list_id == web_list
    assert explanation.tiers == "per-unit price: 2 units"
    assert outcomes == {
        ten.promotion_id: pb.PROMOTION_OUTCOME_LOST,
        twenty.promotion_id: pb.PROMOTION_OUTCOME_APPLIED,
        coded.promotion_id: pb.PROMOTION_OUTCOME_NEEDS_CODE,
        big.promotion_id: pb.PROMOTION_OUTCOME_NOT_ELIGIBLE,
    }
    assert "Twenty took more off" in next(
        p.reason for p in explanation.promotions if p.promotion_id == ten.promotion_id
    )
    assert not plain.lines[0].HasField("explanation")
    assert not stored.lines[0].HasField("explanation")  # explanations are not stored


async def test_a_dry_run_evaluates_pending_prices_and_promotions_without_writing(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10)))
    request = cart(("MUG", 2), dry_run=True, explain=True)
    request.pending_prices.append(pb.SetPriceRequest(sku="MUG", unit_price=usd(6)))
    request.pending_promotions.append(
        pb.Promotion(
            display_name="Try half off",
            currency_code="USD",
            target=pb.PROMOTION_TARGET_CART,
            basis_points_off=5000,
        )
    )

    trial = await pricing.Quote(request)
    price_after = await pricing.GetPrice(pb.GetPriceRequest(sku="MUG", currency_code="USD"))
    promotions_after = await pricing.ListPromotions(pb.ListPromotionsRequest())
    real = await pricing.Quote(cart(("MUG", 2)))

    assert trial.dry_run
    assert trial.quote_id == ""
    assert trial.lines[0].price_id == "pending-0"
    assert cents(trial.subtotal) == 1200
    assert cents(trial.total) == 600
    assert trial.cart_discounts[0].promotion_id == "pending-0"
    assert cents(price_after.price.unit_price) == 1000
    assert promotions_after.promotions == []
    assert cents(real.total) == 2000


async def test_a_country_price_beats_a_channel_price_and_a_region_falls_back_to_its_country(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10)))
    web = (
        await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(9), channel="web"))
    ).price
    us = (
        await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(11), country="US"))
    ).price
    california = (
        await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(12), country="US-CA"))
    ).price

    in_oregon = await pricing.Quote(cart(("MUG", 1), channel="web", country="US-OR"))
    in_california = await pricing.Quote(cart(("MUG", 1), channel="web", country="US-CA"))
    in_canada = await pricing.Quote(cart(("MUG", 1), channel="web", country="CA"))
    explained = await pricing.GetPrice(
        pb.GetPriceRequest(sku="MUG", currency_code="USD", country="US-OR", explain=True)
    )

    assert in_oregon.lines[0].price_id == us.price_id
    assert in_oregon.country == "US-OR"
    assert in_california.lines[0].price_id == california.price_id
    assert in_canada.lines[0].price_id == web.price_id
    assert us.country == "US"
    assert explained.explanation.fallback == (
        f"no price in USD/*/*/US-OR; took 'USD/*/*/US' (#{us.price_list_id}, override)"
    )


async def test_a_quote_can_hold_the_cart_in_inventory_and_still_answers_when_it_cannot(
    pricing: pb_grpc.PricingServiceAsyncStub, inventory_target: str
) -> None:
    await pricing.SetPrice(pb.SetPriceRequest(sku="TEE", unit_price=usd(5)))
    await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10)))
    request_id = str(uuid.uuid4())

    held = await pricing.Quote(cart(("TEE", 3), reserve=True, request_id=request_id))
    again = await pricing.Quote(cart(("TEE", 3), reserve=True, request_id=request_id))
    short = await pricing.Quote(cart(("MUG", 5), reserve=True))
    plain = await pricing.Quote(cart(("TEE", 1)))
    async with connect(inventory_target, PATIENT_POLICY) as channel:
        left = await inventory_pb2_grpc.InventoryServiceStub(channel).CheckAvailability(
            inventory_pb2.CheckAvailabilityRequest(
                lines=[inventory_pb2.AvailabilityLine(sku="TEE", quantity=1)]
            )
        )

    assert held.hold.reservation_id
    # Inventory's clock starts the hold when it reserves: after the quote started,
    # long before the quote would expire.
    held_for = held.hold.expire_time.ToDatetime() - held.expire_time.ToDatetime()
    assert timedelta(0) <= held_for < timedelta(minutes=15)
    assert again == held
    assert left.lines[0].available == 40 - 3  # one reservation, however often quoted
    assert short.hold.reservation_id == ""
    assert short.hold.reason == "INSUFFICIENT_STOCK"
    assert cents(short.total) == 5000
    assert not plain.HasField("hold")
