"""The pricing API over real gRPC: prices with history, tiers, promotions, stored quotes,
and precise errors for bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import timestamp_pb2
from google.type import money_pb2

from stockroom.common.errors import FailedPrecondition, InvalidArgument, NotFound, StockroomError
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

REQUEST_ID = "7d7c0f44-3f5e-4c1f-9b51-1a2b3c4d5e6f"


def usd(units: int, cents: int = 0) -> money_pb2.Money:
    return money_pb2.Money(currency_code="USD", units=units, nanos=cents * 10_000_000)


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message


def cents(money: money_pb2.Money) -> int:
    return int(money.units) * 100 + int(money.nanos) // 10_000_000


async def set_unit_price(
    stub: pb_grpc.PricingServiceAsyncStub, sku: str, units: int, price_cents: int = 0
) -> pb.Price:
    request = pb.SetPriceRequest(sku=sku, unit_price=usd(units, price_cents))
    return (await stub.SetPrice(request)).price


def cart(*lines: tuple[str, int], currency_code: str = "USD", **fields: object) -> pb.QuoteRequest:
    return pb.QuoteRequest(
        currency_code=currency_code,
        lines=[pb.CartLine(sku=sku, quantity=quantity) for sku, quantity in lines],
        **fields,  # type: ignore[arg-type]
    )


async def test_a_scheduled_price_applies_from_its_start_and_history_keeps_every_version(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    now = datetime.now(UTC)
    first = await set_unit_price(pricing, "MUG", 12, 50)
    rise = (
        await pricing.SetPrice(
            pb.SetPriceRequest(
                sku="MUG", unit_price=usd(13), valid_from=timestamp(now + timedelta(days=7))
            )
        )
    ).price

    today = (await pricing.GetPrice(pb.GetPriceRequest(sku="MUG", currency_code="USD"))).price
    next_week = (
        await pricing.GetPrice(
            pb.GetPriceRequest(
                sku="MUG", currency_code="USD", price_time=timestamp(now + timedelta(days=8))
            )
        )
    ).price
    first_page = await pricing.ListPrices(pb.ListPricesRequest(sku="MUG", page_size=1))
    second_page = await pricing.ListPrices(
        pb.ListPricesRequest(sku="MUG", page_size=1, page_token=first_page.next_page_token)
    )

    assert cents(today.unit_price) == 1250
    assert cents(next_week.unit_price) == 1300
    assert [p.price_id for p in first_page.prices] == [first.price_id]
    assert [p.price_id for p in second_page.prices] == [rise.price_id]
    assert second_page.next_page_token == ""


async def test_a_retried_set_price_records_one_version(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    request = pb.SetPriceRequest(sku="MUG", unit_price=usd(12), request_id=REQUEST_ID)

    first = await pricing.SetPrice(request)
    retry = await pricing.SetPrice(request)
    history = await pricing.ListPrices(pb.ListPricesRequest(sku="MUG"))

    assert retry == first
    assert len(history.prices) == 1


async def test_a_quote_shows_tiers_discounts_with_reasons_and_availability(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await pricing.SetPrice(
        pb.SetPriceRequest(
            sku="TEE",
            tiers=[
                pb.PriceTier(up_to=10, unit_amount=usd(20)),
                pb.PriceTier(up_to=0, unit_amount=usd(15)),
            ],
            tiers_mode=pb.TIERS_MODE_GRADUATED,
        )
    )
    await set_unit_price(pricing, "MUG", 12, 50)
    tee_sale = pb.Promotion(
        display_name="Tee sale",
        currency_code="USD",
        target=pb.PROMOTION_TARGET_SKUS,
        skus=["TEE"],
        basis_points_off=1000,
        minimum_quantity=12,
    )
    big_cart = pb.Promotion(
        display_name="Big cart",
        currency_code="USD",
        target=pb.PROMOTION_TARGET_CART,
        amount_off=usd(10),
        minimum_subtotal=usd(200),
    )
    for promotion in (tee_sale, big_cart):
        await pricing.CreatePromotion(pb.CreatePromotionRequest(promotion=promotion))

    quote = await pricing.Quote(cart(("TEE", 12), ("MUG", 3)))

    tee, mug = quote.lines
    assert tee.tiers_mode == pb.TIERS_MODE_GRADUATED
    assert [(t.tier_index, t.quantity, cents(t.amount)) for t in tee.tiers_applied] == [
        (0, 10, 20000),
        (1, 2, 3000),
    ]
    assert not tee.HasField("unit_price")
    assert cents(tee.total) == 23000
    assert [(d.display_name, cents(d.amount)) for d in tee.discounts] == [
        ("Tee sale", 2300),
        ("Big cart", 847),  # 1000 x 20700 / 24450 = 846.6: the leftover cent goes here
    ]
    assert [(d.display_name, cents(d.amount)) for d in mug.discounts] == [("Big cart", 153)]
    assert "12 units reached the minimum of 12" in tee.discounts[0].reason
    assert cents(mug.unit_price) == 1250
    assert cents(quote.subtotal) == 23000 + 3750
    assert [(d.display_name, cents(d.amount)) for d in quote.cart_discounts] == [("Big cart", 1000)]
    assert cents(quote.discount_total) == 2300 + 1000
    assert cents(quote.total) == sum(cents(line.net_total) for line in quote.lines)
    assert cents(quote.total) == 23000 + 3750 - 3300
    assert (tee.availability, tee.available_quantity) == (pb.AVAILABILITY_IN_STOCK, 40)
    assert (mug.availability, mug.available_quantity) == (pb.AVAILABILITY_INSUFFICIENT, 2)
    assert quote.availability_reason == ""


async def test_get_quote_returns_the_same_numbers_later(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await set_unit_price(pricing, "MUG", 12, 50)
    quote = await pricing.Quote(cart(("MUG", 3)))
    await set_unit_price(pricing, "MUG", 99)  # prices move on; the quote does not

    again = await pricing.GetQuote(pb.GetQuoteRequest(quote_id=quote.quote_id))

    assert again.quote == quote
    assert quote.expire_time.ToDatetime() > quote.create_time.ToDatetime()


async def test_a_retried_quote_returns_the_first_quote(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await set_unit_price(pricing, "MUG", 12, 50)

    first = await pricing.Quote(cart(("MUG", 1), request_id=REQUEST_ID))
    retry = await pricing.Quote(cart(("MUG", 1), request_id=REQUEST_ID))

    assert retry == first
    with pytest.raises(InvalidArgument) as raised:
        await pricing.Quote(cart(("MUG", 2), request_id=REQUEST_ID))
    assert raised.value.reason == "REQUEST_ID_REUSED"


async def test_a_quote_at_a_past_moment_uses_the_prices_of_that_moment(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    await set_unit_price(pricing, "MUG", 12, 50)

    with pytest.raises(NotFound) as raised:
        await pricing.Quote(cart(("MUG", 1), price_time=timestamp(before)))

    assert raised.value.reason == "PRICE_NOT_FOUND"


async def test_customer_group_prices_beat_the_default_list(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    await set_unit_price(pricing, "MUG", 12, 50)
    await pricing.SetPrice(
        pb.SetPriceRequest(sku="MUG", unit_price=usd(10), customer_group="wholesale")
    )

    retail = await pricing.Quote(cart(("MUG", 1)))
    wholesale = await pricing.Quote(cart(("MUG", 1), customer_group="wholesale"))

    assert cents(retail.total) == 1250
    assert cents(wholesale.total) == 1000
    assert wholesale.customer_group == "wholesale"


async def test_an_expired_quote_is_refused_with_quote_expired(
    pricing_for: Callable[..., Any], inventory_target: str
) -> None:
    async with pricing_for(inventory_target, quote_ttl_s=0.0) as stub:
        await set_unit_price(stub, "MUG", 12, 50)
        quote = await stub.Quote(cart(("MUG", 1)))

        with pytest.raises(FailedPrecondition) as raised:
            await stub.GetQuote(pb.GetQuoteRequest(quote_id=quote.quote_id))

    assert raised.value.reason == "QUOTE_EXPIRED"
    assert raised.value.precondition_violations[0].type == "QUOTE_EXPIRED"


async def test_promotions_can_be_read_back_and_listed(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    created = (
        await pricing.CreatePromotion(
            pb.CreatePromotionRequest(
                request_id=REQUEST_ID,
                promotion=pb.Promotion(
                    display_name="Everything 5 %",
                    target=pb.PROMOTION_TARGET_CART,
                    basis_points_off=500,
                ),
            )
        )
    ).promotion

    got = await pricing.GetPromotion(pb.GetPromotionRequest(promotion_id=created.promotion_id))
    listed = await pricing.ListPromotions(pb.ListPromotionsRequest())

    assert got.promotion == created
    assert list(listed.promotions) == [created]
    assert created.WhichOneof("discount") == "basis_points_off"


@pytest.mark.parametrize(
    ("request_message", "error", "reason", "field"),
    [
        (
            cart(("MUG", 1), currency_code="XXX"),
            InvalidArgument,
            "UNKNOWN_CURRENCY",
            "currency_code",
        ),
        (
            cart(("MUG", 1), currency_code="usd"),
            InvalidArgument,
            "UNKNOWN_CURRENCY",
            "currency_code",
        ),
        (cart(), InvalidArgument, "EMPTY", "lines"),
        (cart(("MUG", -1)), InvalidArgument, "NOT_POSITIVE", "lines[0].quantity"),
        (cart(("MUG", 1), ("MUG", 1)), InvalidArgument, "DUPLICATE_SKU", "lines[1].sku"),
        (cart(("MUG", 1), request_id="not-a-uuid"), InvalidArgument, "MALFORMED", "request_id"),
        (cart(("MUG", 1), ("NOPE", 1)), NotFound, "PRICE_NOT_FOUND", "lines[1].sku"),
    ],
)
async def test_bad_quotes_get_precise_errors(
    pricing: pb_grpc.PricingServiceAsyncStub,
    request_message: pb.QuoteRequest,
    error: type[StockroomError],
    reason: str,
    field: str,
) -> None:
    await set_unit_price(pricing, "MUG", 12, 50)

    with pytest.raises(error) as raised:
        await pricing.Quote(request_message)

    assert raised.value.reason == reason
    assert field in [v.field for v in raised.value.field_violations]


@pytest.mark.parametrize(
    ("request_message", "reason", "field"),
    [
        (
            pb.SetPriceRequest(
                sku="MUG",
                unit_price=money_pb2.Money(currency_code="JPY", units=1, nanos=500_000_000),
            ),
            "TOO_PRECISE",
            "unit_price",
        ),
        (pb.SetPriceRequest(sku="MUG", unit_price=usd(-1)), "NEGATIVE", "unit_price"),
        (pb.SetPriceRequest(sku="MUG"), "PRICE_REQUIRED", "unit_price"),
        (pb.SetPriceRequest(unit_price=usd(1)), "REQUIRED", "sku"),
        (
            pb.SetPriceRequest(
                sku="MUG",
                tiers_mode=pb.TIERS_MODE_VOLUME,
                tiers=[
                    pb.PriceTier(up_to=5, unit_amount=usd(2)),
                    pb.PriceTier(unit_amount=money_pb2.Money(currency_code="EUR", units=1)),
                ],
            ),
            "CURRENCY_MISMATCH",
            "tiers[1].unit_amount.currency_code",
        ),
        (
            pb.SetPriceRequest(
                sku="MUG", unit_price=usd(1), valid_from=timestamp(datetime(2020, 1, 1, tzinfo=UTC))
            ),
            "IN_THE_PAST",
            "valid_from",
        ),
        (
            pb.SetPriceRequest(sku="MUG", unit_price=money_pb2.Money(currency_code="XAU", units=1)),
            "UNKNOWN_CURRENCY",
            "unit_price.currency_code",
        ),
    ],
)
async def test_bad_prices_get_precise_errors(
    pricing: pb_grpc.PricingServiceAsyncStub,
    request_message: pb.SetPriceRequest,
    reason: str,
    field: str,
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await pricing.SetPrice(request_message)

    assert raised.value.reason == reason
    assert field in [v.field for v in raised.value.field_violations]


async def test_a_promotion_in_two_currencies_is_a_currency_mismatch(
    pricing: pb_grpc.PricingServiceAsyncStub,
) -> None:
    promotion = pb.Promotion(
        display_name="Mixed",
        currency_code="USD",
        target=pb.PROMOTION_TARGET_CART,
        amount_off=money_pb2.Money(currency_code="EUR", units=5),
    )

    with pytest.raises(InvalidArgument) as raised:
        await pricing.CreatePromotion(pb.CreatePromotionRequest(promotion=promotion))

    assert raised.value.reason == "CURRENCY_MISMATCH"


@pytest.mark.parametrize(
    ("call", "error", "reason"),
    [
        ("GetQuote", NotFound, "QUOTE_NOT_FOUND"),
        ("GetPromotion", NotFound, "PROMOTION_NOT_FOUND"),
        ("GetPrice", NotFound, "PRICE_NOT_FOUND"),
        ("ListPrices", InvalidArgument, "INVALID_PAGE_TOKEN"),
    ],
)
async def test_unknown_ids_and_bad_tokens_get_precise_errors(
    pricing: pb_grpc.PricingServiceAsyncStub, call: str, error: type[StockroomError], reason: str
) -> None:
    requests = {
        "GetQuote": pb.GetQuoteRequest(quote_id="0f6e9c1e-0000-4000-8000-000000000000"),
        "GetPromotion": pb.GetPromotionRequest(promotion_id="42"),
        "GetPrice": pb.GetPriceRequest(sku="NOPE", currency_code="USD"),
        "ListPrices": pb.ListPricesRequest(sku="MUG", page_token="garbage!"),
    }

    with pytest.raises(error) as raised:
        await getattr(pricing, call)(requests[call])

    assert raised.value.reason == reason
