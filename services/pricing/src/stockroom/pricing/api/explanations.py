"""Explanations to their messages."""

from __future__ import annotations

from stockroom.pricing.api.price_lists import price_list_message
from stockroom.pricing.api.prices import price_message
from stockroom.pricing.domain.explain import (
    LineExplanation,
    Outcome,
    PriceExplanation,
    Verdict,
)
from stockroom.pricing.v1 import pricing_pb2 as pb

VERDICT_TO_PROTO = {
    Verdict.CHOSEN: pb.CANDIDATE_VERDICT_CHOSEN,
    Verdict.SUPERSEDED: pb.CANDIDATE_VERDICT_SUPERSEDED,
    Verdict.LESS_SPECIFIC: pb.CANDIDATE_VERDICT_LESS_SPECIFIC,
    Verdict.NOT_IN_EFFECT: pb.CANDIDATE_VERDICT_NOT_IN_EFFECT,
    Verdict.OTHER_SCOPE: pb.CANDIDATE_VERDICT_OTHER_SCOPE,
    Verdict.LIST_NOT_ACTIVE: pb.CANDIDATE_VERDICT_LIST_NOT_ACTIVE,
    Verdict.NOT_LOWEST: pb.CANDIDATE_VERDICT_NOT_LOWEST,
}
OUTCOME_TO_PROTO = {
    Outcome.APPLIED: pb.PROMOTION_OUTCOME_APPLIED,
    Outcome.LOST: pb.PROMOTION_OUTCOME_LOST,
    Outcome.NOT_ELIGIBLE: pb.PROMOTION_OUTCOME_NOT_ELIGIBLE,
    Outcome.NEEDS_CODE: pb.PROMOTION_OUTCOME_NEEDS_CODE,
    Outcome.LIMITED: pb.PROMOTION_OUTCOME_LIMITED,
}


def price_explanation_message(explanation: PriceExplanation) -> pb.PriceExplanation:
    message = pb.PriceExplanation(
        candidates=[
            pb.PriceCandidate(
                price=price_message(c.version),
                verdict=VERDICT_TO_PROTO[c.verdict],
                reason=c.reason,
            )
            for c in explanation.candidates
        ],
        lists_tried=list(explanation.lists_tried),
        fallback=explanation.fallback,
    )
    if explanation.price_list is not None:
        message.price_list.CopyFrom(price_list_message(explanation.price_list))
    return message


def line_explanation_message(explanation: LineExplanation) -> pb.LineExplanation:
    return pb.LineExplanation(
        price=price_explanation_message(explanation.price),
        tiers=explanation.tiers,
        promotions=[
            pb.PromotionConsidered(
                promotion_id=c.promotion_id,
                display_name=c.display_name,
                outcome=OUTCOME_TO_PROTO[c.outcome],
                reason=c.reason,
            )
            for c in explanation.promotions
        ],
    )
