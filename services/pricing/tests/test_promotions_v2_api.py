"""Promotion lifecycle, discount codes, redemptions and tax over real gRPC."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from google.type import money_pb2

from stockroom.common.errors import FailedPrecondition, InvalidArgument
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

from .test_api import cart, cents, set_unit_price, usd

if TYPE_CHECKING:
    from .conftest import PricingFactory


async def create_promotion(stub: pb_grpc.PricingServiceAsyncStub, **fields: object) -> pb.Promotion:
    promotion = pb.Promotion(
        display_name="Mug sale",
        currency_code="USD",
        target=pb.PROMOTION_TARGET_SKUS,
        skus=["MUG"],
        basis_points_off=1000,
    )
    for name, value in fields.items():
        if isinstance(value, money_pb2.Money | pb.PromotionLimits):
            getattr(promotion, name).CopyFrom(value)
        else:
            setattr(promotion, name, value)
    response = await stub.CreatePromotion(pb.CreatePromotionRequest(promotion=promotion))
    return response.promotion


async def test_lifecycle_versions_keep_earlier_quotes_and_list_filters_by_state(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await set_unit_price(pricing, "MUG", 10)
    sale = await create_promotion(pricing)
    before = await pricing.Quote(cart(("MUG", 1)))

    changed = sale.__class__()
    changed.CopyFrom(sale)
    changed.basis_points_off = 2500
    changed.ClearField("valid_from")
    updated = (
        await pricing.UpdatePromotion(
            pb.UpdatePromotionRequest(promotion=changed, expected_version=1)
        )
    ).promotion
    after_update = await pricing.Quote(cart(("MUG", 1)))
    paused = (
        await pricing.PausePromotion(pb.PausePromotionRequest(promotion_id=sale.promotion_id))
    ).promotion
    while_paused = await pricing.Quote(cart(("MUG", 1)))
    listed_paused = await pricing.ListPromotions(
        pb.ListPromotionsRequest(states=[pb.PROMOTION_STATE_PAUSED])
    )
    listed_active = await pricing.ListPromotions(
        pb.ListPromotionsRequest(states=[pb.PROMOTION_STATE_ACTIVE])
    )
    resumed = (
        await pricing.ResumePromotion(pb.ResumePromotionRequest(promotion_id=sale.promotion_id))
    ).promotion
    ended = (
        await pricing.EndPromotion(pb.EndPromotionRequest(promotion_id=sale.promotion_id))
    ).promotion
    again = (
        await pricing.EndPromotion(pb.EndPromotionRequest(promotion_id=sale.promotion_id))
    ).promotion
    stored = (await pricing.GetQuote(pb.GetQuoteRequest(quote_id=before.quote_id))).quote

    assert [sale.version, updated.version, paused.version, resumed.version, ended.version] == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert again.version == 5
    assert cents(before.discount_total) == 100
    assert before.lines[0].discounts[0].promotion_version == 1
    assert cents(after_update.discount_total) == 250
    assert after_update.lines[0].discounts[0].promotion_version == 2
    assert cents(while_paused.discount_total) == 0
    assert [p.promotion_id for p in listed_paused.promotions] == [sale.promotion_id]
    assert listed_active.promotions == []
    assert ended.state == pb.PROMOTION_STATE_ENDED
    assert cents(stored.discount_total) == 100  # the quote keeps version 1's numbers
    with pytest.raises(FailedPrecondition) as raised:
        await pricing.ResumePromotion(pb.ResumePromotionRequest(promotion_id=sale.promotion_id))
    assert raised.value.reason == "PROMOTION_ENDED"
    with pytest.raises(FailedPrecondition) as mismatch:
        await pricing.UpdatePromotion(
            pb.UpdatePromotionRequest(promotion=changed, expected_version=1)
        )
    assert mismatch.value.reason in {"VERSION_MISMATCH", "PROMOTION_ENDED"}


async def test_codes_limits_redeem_and_release(pricing: pb_grpc.PricingServiceAsyncStub) -> None:
    await set_unit_price(pricing, "MUG", 10)
    coded = await create_promotion(
        pricing,
        requires_code=True,
        basis_points_off=5000,
        limits=pb.PromotionLimits(max_uses=1, max_uses_per_customer=1, budget=usd(100)),
    )
    request_id = str(uuid.uuid4())
    codes = await pricing.CreateDiscountCodes(
        pb.CreateDiscountCodesRequest(
            promotion_id=coded.promotion_id,
            codes=["welcome"],
            generate_count=3,
            prefix="MUG-",
            request_id=request_id,
        )
    )
    retried = await pricing.CreateDiscountCodes(
        pb.CreateDiscountCodesRequest(
            promotion_id=coded.promotion_id,
            codes=["welcome"],
            generate_count=3,
            prefix="MUG-",
            request_id=request_id,
        )
    )
    generated = [c.code for c in codes.codes if c.code != "WELCOME"]

    without_code = await pricing.Quote(cart(("MUG", 2), customer_id="ann"))
    quoted = await pricing.Quote(
        cart(("MUG", 2), customer_id="ann", discount_codes=["Welcome", "NOPE-123"])
    )
    no_customer = await pricing.Quote(cart(("MUG", 2), discount_codes=["WELCOME"]))
    redeem_id = str(uuid.uuid4())
    redeemed = (
        await pricing.RedeemQuote(
            pb.RedeemQuoteRequest(quote_id=quoted.quote_id, request_id=redeem_id)
        )
    ).redemption
    redeemed_again = (
        await pricing.RedeemQuote(
            pb.RedeemQuoteRequest(quote_id=quoted.quote_id, request_id=redeem_id)
        )
    ).redemption
    used = (
        await pricing.GetPromotion(pb.GetPromotionRequest(promotion_id=coded.promotion_id))
    ).promotion
    second = await pricing.Quote(cart(("MUG", 1), customer_id="bob", discount_codes=[generated[0]]))

    assert len(codes.codes) == 4
    assert sorted(c.code for c in retried.codes) == sorted(c.code for c in codes.codes)
    assert all(code.startswith("MUG-") and len(code) == 16 for code in generated)
    assert cents(without_code.discount_total) == 0
    assert cents(quoted.discount_total) == 1000
    assert quoted.lines[0].discounts[0].code == "WELCOME"
    assert [(r.code, r.status) for r in quoted.discount_codes] == [
        ("WELCOME", pb.DISCOUNT_CODE_STATUS_APPLIED),
        ("NOPE-123", pb.DISCOUNT_CODE_STATUS_UNKNOWN),
    ]
    assert no_customer.discount_codes[0].status == pb.DISCOUNT_CODE_STATUS_NOT_ELIGIBLE
    assert redeemed == redeemed_again
    assert [(p.promotion_id, p.code, cents(p.amount)) for p in redeemed.promotions] == [
        (coded.promotion_id, "WELCOME", 1000)
    ]
    assert (used.usage.uses, cents(used.usage.spent)) == (1, 1000)
    assert second.discount_codes[0].status == pb.DISCOUNT_CODE_STATUS_USED_UP

    with pytest.raises(FailedPrecondition) as taken:
        await pricing.RedeemQuote(
            pb.RedeemQuoteRequest(quote_id=quoted.quote_id, request_id=str(uuid.uuid4()))
        )
    assert taken.value.reason == "QUOTE_ALREADY_REDEEMED"
    released = (
        await pricing.ReleaseRedemption(
            pb.ReleaseRedemptionRequest(redemption_id=redeemed.redemption_id)
        )
    ).redemption
    released_again = (
        await pricing.ReleaseRedemption(
            pb.ReleaseRedemptionRequest(redemption_id=redeemed.redemption_id)
        )
    ).redemption
    freed = (
        await pricing.GetPromotion(pb.GetPromotionRequest(promotion_id=coded.promotion_id))
    ).promotion
    third = await pricing.Quote(cart(("MUG", 1), customer_id="bob", discount_codes=[generated[0]]))

    assert released.state == released_again.state == pb.REDEMPTION_STATE_RELEASED
    assert (freed.usage.uses, cents(freed.usage.spent)) == (0, 0)
    assert third.discount_codes[0].status == pb.DISCOUNT_CODE_STATUS_APPLIED


async def test_a_redemption_past_a_limit_is_refused_whole(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await set_unit_price(pricing, "MUG", 10)
    sale = await create_promotion(pricing, limits=pb.PromotionLimits(max_uses=1))
    first = await pricing.Quote(cart(("MUG", 1)))
    second = await pricing.Quote(cart(("MUG", 1)))

    await pricing.RedeemQuote(
        pb.RedeemQuoteRequest(quote_id=first.quote_id, request_id=str(uuid.uuid4()))
    )
    with pytest.raises(FailedPrecondition) as raised:
        await pricing.RedeemQuote(
            pb.RedeemQuoteRequest(quote_id=second.quote_id, request_id=str(uuid.uuid4()))
        )
    after = (
        await pricing.GetPromotion(pb.GetPromotionRequest(promotion_id=sale.promotion_id))
    ).promotion

    assert raised.value.reason == "LIMIT_REACHED"
    assert after.usage.uses == 1
    assert cents(second.discount_total) == 100  # quoted while a use was left


async def test_tax_per_line_adds_up_and_cash_rounding_is_a_setting(
    pricing_for: PricingFactory, inventory_target: str
) -> None:
    rules = {"rounding_modes": "CHF=HALF_UP", "cash_rounding": "CHF=0.05"}
    async with pricing_for(inventory_target, **rules) as stub:
        await stub.SetPrice(
            pb.SetPriceRequest(
                sku="MUG",
                unit_price=money_pb2.Money(currency_code="CHF", units=19, nanos=950_000_000),
                tax_inclusive=True,
            )
        )
        await stub.SetPrice(
            pb.SetPriceRequest(
                sku="TEE",
                unit_price=money_pb2.Money(currency_code="CHF", units=9, nanos=990_000_000),
            )
        )
        request = pb.QuoteRequest(
            currency_code="CHF",
            lines=[
                pb.CartLine(
                    sku="MUG", quantity=1, tax_rates=[pb.TaxRate(name="VAT", rate_percent="8.1")]
                ),
                pb.CartLine(
                    sku="TEE", quantity=1, tax_rates=[pb.TaxRate(name="VAT", rate_percent="8.1")]
                ),
            ],
        )
        quote = await stub.Quote(request)
        stored = (await stub.GetQuote(pb.GetQuoteRequest(quote_id=quote.quote_id))).quote
        del request.lines[1].tax_rates[:]
        request.lines[1].tax_rates.append(pb.TaxRate(rate_percent="8.12345"))
        with pytest.raises(InvalidArgument) as raised:
            await stub.Quote(request)

    mug, tee = quote.lines
    assert mug.tax_inclusive
    assert (cents(mug.tax.net), cents(mug.tax.tax), cents(mug.tax.gross)) == (1846, 149, 1995)
    assert (cents(tee.tax.net), cents(tee.tax.tax), cents(tee.tax.gross)) == (999, 81, 1080)
    assert [(t.name, t.rate_percent, cents(t.amount)) for t in tee.tax.taxes] == [
        ("VAT", "8.1", 81)
    ]
    total = quote.tax_total
    assert (cents(total.net), cents(total.tax), cents(total.gross)) == (2845, 230, 3075)
    assert cents(quote.amount_due) == 3075
    assert cents(quote.cash_rounding) == 0
    assert stored == quote
    assert raised.value.field_violations[0].field == "lines[1].tax_rates[0].rate_percent"
