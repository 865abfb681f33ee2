"""Limits and budgets are never exceeded: many concurrent callers, two replicas, one PostgreSQL.

The way inventory proves it never oversells: far more redemptions than the limits
allow race through two pricing servers at once; exactly as many succeed as the
limits allow, every other one is refused with LIMIT_REACHED (nothing else), and the
database's counters equal the sum of what the successful redemptions hold.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from stockroom.common.client import Policy
from stockroom.common.errors import FailedPrecondition
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

from .conftest import replicas_of
from .test_api import cart, cents, set_unit_price, usd

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# Dozens of redemptions queue on one promotion's row lock, so on a busy machine some
# take seconds: a client breaker would count them slow and cut the test off.
PATIENT = Policy(timeout_s=120.0, retry=None, breaker=None)


@pytest.fixture
async def replicas(
    postgres_url: str, inventory_target: str
) -> AsyncIterator[list[pb_grpc.PricingServiceAsyncStub]]:
    async with replicas_of(postgres_url, inventory_target, PATIENT, {}, {}) as stubs:
        yield stubs


async def redeem_all(
    replicas: list[pb_grpc.PricingServiceAsyncStub], quote_ids: list[str]
) -> tuple[list[pb.Redemption], Counter[str]]:
    async def redeem(i: int, quote_id: str) -> pb.Redemption | str:
        stub = replicas[i % len(replicas)]
        request = pb.RedeemQuoteRequest(quote_id=quote_id, request_id=str(uuid.uuid4()))
        try:
            return (await stub.RedeemQuote(request)).redemption
        except FailedPrecondition as error:
            return error.reason

    outcomes = await asyncio.gather(*(redeem(i, q) for i, q in enumerate(quote_ids)))
    done = [o for o in outcomes if isinstance(o, pb.Redemption)]
    return done, Counter(o for o in outcomes if isinstance(o, str))


async def counters(url: str) -> dict[str, tuple[int, int]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT p.id, p.uses, p.spent_minor,"
                    " (SELECT count(*) FROM redemption_items i JOIN redemptions r"
                    "   ON r.id = i.redemption_id WHERE i.promotion_id = p.id"
                    "   AND r.state = 'REDEEMED') AS held_uses,"
                    " (SELECT coalesce(sum(i.amount_minor), 0) FROM redemption_items i"
                    "   JOIN redemptions r ON r.id = i.redemption_id WHERE i.promotion_id = p.id"
                    "   AND r.state = 'REDEEMED') AS held_spent"
                    " FROM promotions p"
                )
            )
            facts = {}
            for row in rows:
                assert (row.uses, row.spent_minor) == (row.held_uses, int(row.held_spent))
                facts[str(row.id)] = (int(row.uses), int(row.spent_minor))
            return facts
    finally:
        await engine.dispose()


async def test_max_uses_and_budget_hold_under_concurrent_redemptions(
    replicas: list[pb_grpc.PricingServiceAsyncStub], postgres_url: str
) -> None:
    stub = replicas[0]
    await set_unit_price(stub, "MUG", 10)
    await set_unit_price(stub, "TEE", 20)
    # 10 % off MUG (1.00 per quote), at most 7 uses; 2.00 off TEE, budget 9.00 (4 uses).
    by_uses = (
        await stub.CreatePromotion(
            pb.CreatePromotionRequest(
                promotion=pb.Promotion(
                    display_name="7 uses",
                    currency_code="USD",
                    target=pb.PROMOTION_TARGET_SKUS,
                    skus=["MUG"],
                    basis_points_off=1000,
                    limits=pb.PromotionLimits(max_uses=7),
                )
            )
        )
    ).promotion
    by_budget = (
        await stub.CreatePromotion(
            pb.CreatePromotionRequest(
                promotion=pb.Promotion(
                    display_name="9.00 budget",
                    currency_code="USD",
                    target=pb.PROMOTION_TARGET_SKUS,
                    skus=["TEE"],
                    amount_off=usd(2),
                    limits=pb.PromotionLimits(budget=usd(9)),
                )
            )
        )
    ).promotion
    mug_quotes = [(await stub.Quote(cart(("MUG", 1)))).quote_id for _ in range(30)]
    tee_quotes = [(await stub.Quote(cart(("TEE", 1)))).quote_id for _ in range(30)]

    done, refused = await redeem_all(replicas, mug_quotes + tee_quotes)
    facts = await counters(postgres_url)

    assert len(done) == 7 + 4
    assert refused == Counter({"LIMIT_REACHED": 60 - 11})
    assert facts[by_uses.promotion_id] == (7, 700)
    assert facts[by_budget.promotion_id] == (4, 800)

    # Releasing gives back exactly: 3 of each, then another race for the freed room.
    released = [r for r in done if r.promotions[0].promotion_id == by_uses.promotion_id][:3]
    released += [r for r in done if r.promotions[0].promotion_id == by_budget.promotion_id][:3]
    await asyncio.gather(
        *(
            replicas[i % 2].ReleaseRedemption(
                pb.ReleaseRedemptionRequest(redemption_id=r.redemption_id)
            )
            for i, r in enumerate(released + released)  # each twice: the second is a no-op
        )
    )
    assert (await counters(postgres_url))[by_uses.promotion_id] == (4, 400)
    fresh = [(await stub.Quote(cart(("MUG", 1)))).quote_id for _ in range(10)]
    fresh += [(await stub.Quote(cart(("TEE", 1)))).quote_id for _ in range(10)]

    done_again, refused_again = await redeem_all(replicas, fresh)
    final = await counters(postgres_url)

    assert len(done_again) == 3 + 3
    assert refused_again == Counter({"LIMIT_REACHED": 20 - 6})
    assert final[by_uses.promotion_id] == (7, 700)
    assert final[by_budget.promotion_id] == (4, 800)
    assert all(cents(r.promotions[0].amount) in (100, 200) for r in done + done_again)


async def test_per_customer_limits_and_code_uses_hold_under_concurrency(
    replicas: list[pb_grpc.PricingServiceAsyncStub], postgres_url: str
) -> None:
    stub = replicas[0]
    await set_unit_price(stub, "MUG", 10)
    promotion = (
        await stub.CreatePromotion(
            pb.CreatePromotionRequest(
                promotion=pb.Promotion(
                    display_name="2 per customer, coded",
                    currency_code="USD",
                    target=pb.PROMOTION_TARGET_SKUS,
                    skus=["MUG"],
                    basis_points_off=1000,
                    requires_code=True,
                    limits=pb.PromotionLimits(max_uses_per_customer=2),
                )
            )
        )
    ).promotion
    await stub.CreateDiscountCodes(
        pb.CreateDiscountCodesRequest(
            promotion_id=promotion.promotion_id, codes=["SHARED"], max_uses_per_code=5
        )
    )
    customers = ["ann", "bob", "cyd", "dan"]
    quotes = [
        (await stub.Quote(cart(("MUG", 1), customer_id=c, discount_codes=["SHARED"]))).quote_id
        for c in customers
        for _ in range(6)
    ]

    done, refused = await redeem_all(replicas, quotes)
    facts = await counters(postgres_url)
    per_customer = Counter(r.customer_id for r in done)

    # The code allows 5 uses over all; each customer at most 2.
    assert len(done) == 5
    assert max(per_customer.values()) <= 2
    assert refused == Counter({"LIMIT_REACHED": 24 - 5})
    assert facts[promotion.promotion_id] == (5, 500)
