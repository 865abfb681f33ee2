"""Redemption messages from domain values."""

from __future__ import annotations

from stockroom.pricing.api.wire import to_money, to_timestamp
from stockroom.pricing.store.redemptions import Redemption
from stockroom.pricing.v1 import pricing_pb2 as pb

STATE_TO_PROTO = {
    "REDEEMED": pb.REDEMPTION_STATE_REDEEMED,
    "RELEASED": pb.REDEMPTION_STATE_RELEASED,
}


def redemption_message(redemption: Redemption) -> pb.Redemption:
    currency_code = redemption.currency_code
    message = pb.Redemption(
        redemption_id=redemption.redemption_id,
        quote_id=redemption.quote_id,
        state=STATE_TO_PROTO[redemption.state],
        promotions=[
            pb.RedeemedPromotion(
                promotion_id=item.promotion_id,
                code=item.code,
                amount=to_money(item.amount_minor, currency_code),
            )
            for item in redemption.items
        ],
        customer_id=redemption.customer_id,
        create_time=to_timestamp(redemption.created_at),
    )
    if redemption.released_at is not None:
        message.release_time.CopyFrom(to_timestamp(redemption.released_at))
    return message
