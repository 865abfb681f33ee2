"""``stockroom pricing ...`` commands for a promotion's life after it is created: changes,
pause/resume/end, discount codes, and redeeming or releasing a quote's promotions.

Registered on the pricing group by ``stockroom.cli.main``; they share its options, its
argument types and its one output model.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import click
import grpc

from stockroom.cli.calls import Call, call_options
from stockroom.cli.output import to_data
from stockroom.cli.params import AMOUNT, MOMENT
from stockroom.cli.pricing import SERVICE, basis_points, money, stub, unary
from stockroom.pricing.v1 import pricing_pb2 as pb


@click.command("update-promotion")
@click.argument("promotion_id")
@click.option("--percent", help="new percentage off, e.g. 12.5")
@click.option("--amount-off", type=AMOUNT, help="new amount off")
@click.option("--name", help="new display name")
@click.option("--until", "valid_until", type=MOMENT, help="new ISO 8601 end")
@click.option("--max-uses", type=click.IntRange(min=0), help="new usage limit (0: none)")
@click.option("--requires-code/--no-requires-code", default=None, help="only with a code")
@click.option(
    "--expected-version", type=click.IntRange(min=0), default=0, help="refuse if it changed"
)
@call_options(SERVICE)
def update_promotion(
    call: Call,
    promotion_id: str,
    percent: str | None,
    amount_off: Decimal | None,
    name: str | None,
    valid_until: datetime | None,
    max_uses: int | None,
    requires_code: bool | None,
    expected_version: int,
) -> None:
    """Change a promotion (a new version): reads it, applies the options, writes it back."""
    if percent is not None and amount_off is not None:
        raise click.UsageError("give at most one of --percent and --amount-off")
    new_basis_points = None if percent is None else basis_points(percent)

    async def update(channel: grpc.aio.Channel) -> Any:
        pricing = stub(channel)
        get = pb.GetPromotionRequest(promotion_id=promotion_id)
        promotion = (await pricing.GetPromotion(get, timeout=call.timeout_s)).promotion
        promotion.ClearField("valid_from")  # a started promotion keeps its start
        if new_basis_points is not None:
            promotion.basis_points_off = new_basis_points
        if amount_off is not None:
            promotion.amount_off.CopyFrom(money(amount_off, promotion.currency_code))
        if name is not None:
            promotion.display_name = name
        if valid_until is not None:
            promotion.valid_until.FromDatetime(valid_until)
        if max_uses is not None:
            promotion.limits.max_uses = max_uses
        if requires_code is not None:
            promotion.requires_code = requires_code
        request = pb.UpdatePromotionRequest(promotion=promotion, expected_version=expected_version)
        return await pricing.UpdatePromotion(request, timeout=call.timeout_s)

    call.printer.result(to_data(call.run(update)))


@click.command("pause-promotion")
@click.argument("promotion_id")
@call_options(SERVICE)
def pause_promotion(call: Call, promotion_id: str) -> None:
    """Pause a promotion (quotes skip it until it is resumed)."""
    unary(call, "PausePromotion", pb.PausePromotionRequest(promotion_id=promotion_id))


@click.command("resume-promotion")
@click.argument("promotion_id")
@call_options(SERVICE)
def resume_promotion(call: Call, promotion_id: str) -> None:
    """Resume a paused promotion."""
    unary(call, "ResumePromotion", pb.ResumePromotionRequest(promotion_id=promotion_id))


@click.command("end-promotion")
@click.argument("promotion_id")
@call_options(SERVICE)
def end_promotion(call: Call, promotion_id: str) -> None:
    """End a promotion for good."""
    unary(call, "EndPromotion", pb.EndPromotionRequest(promotion_id=promotion_id))


@click.command("create-codes")
@click.argument("promotion_id")
@click.option("--code", "codes", multiple=True, help="a named code; repeat")
@click.option("--generate", type=click.IntRange(min=0), default=0, help="this many random codes")
@click.option("--prefix", default="", help="prefix of generated codes")
@click.option("--max-uses", type=click.IntRange(min=0), default=0, help="uses per code (0: any)")
@call_options(SERVICE, mutation=True)
def create_codes(
    call: Call,
    promotion_id: str,
    codes: tuple[str, ...],
    generate: int,
    prefix: str,
    max_uses: int,
) -> None:
    """Add discount codes to a promotion."""
    request = pb.CreateDiscountCodesRequest(
        promotion_id=promotion_id,
        codes=list(codes),
        generate_count=generate,
        prefix=prefix,
        max_uses_per_code=max_uses,
        request_id=call.new_request_id(),
    )
    unary(call, "CreateDiscountCodes", request, "codes")


@click.command("redeem")
@click.argument("quote_id")
@call_options(SERVICE, mutation=True)
def redeem(call: Call, quote_id: str) -> None:
    """Consume a quote's promotions and codes (the order was placed)."""
    request = pb.RedeemQuoteRequest(quote_id=quote_id, request_id=call.new_request_id())
    unary(call, "RedeemQuote", request)


@click.command("release")
@click.argument("redemption_id")
@call_options(SERVICE)
def release(call: Call, redemption_id: str) -> None:
    """Give a redemption's uses back (the order was cancelled)."""
    unary(call, "ReleaseRedemption", pb.ReleaseRedemptionRequest(redemption_id=redemption_id))


COMMANDS = (
    update_promotion,
    pause_promotion,
    resume_promotion,
    end_promotion,
    create_codes,
    redeem,
    release,
)
