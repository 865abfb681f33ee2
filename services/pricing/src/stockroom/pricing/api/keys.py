"""AIP-155 request keys for pricing's creates, on common's idempotency module.

A key is the request id, the method and a hash of the proto request without
its id (``stockroom.common.db.request_key``). Fields a later proto version adds
are left out of that hash while they hold their default (proto3 does not
serialise defaults), so requests made before a field existed keep their key.
"""

from __future__ import annotations

from stockroom.common.db import RequestKey, request_key
from stockroom.pricing.v1 import pricing_pb2 as pb

KeyedRequest = (
    pb.SetPriceRequest
    | pb.CreatePromotionRequest
    | pb.QuoteRequest
    | pb.CreateDiscountCodesRequest
    | pb.RedeemQuoteRequest
    | pb.CreatePriceListRequest
)


def optional_key(method: str, request: KeyedRequest) -> RequestKey | None:
    """The request's key; None when the caller sent no request id (the use case decides
    whether one is required)."""
    return request_key(method, request) if request.request_id else None
