"""Price list messages to domain values and back."""

from __future__ import annotations

from collections.abc import Iterable

from stockroom.pricing.api.wire import to_timestamp
from stockroom.pricing.domain.price_lists import (
    ListKind,
    ListStatus,
    PriceList,
    PriceListTerms,
    Relative,
)
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.validation import new_problems, raise_if_any
from stockroom.pricing.v1 import pricing_pb2 as pb

KIND_TO_PROTO = {
    ListKind.OVERRIDE: pb.PRICE_LIST_KIND_OVERRIDE,
    ListKind.SALE: pb.PRICE_LIST_KIND_SALE,
}
KIND_FROM_PROTO = {number: kind for kind, number in KIND_TO_PROTO.items()}
STATUS_TO_PROTO = {
    ListStatus.DRAFT: pb.PRICE_LIST_STATUS_DRAFT,
    ListStatus.ACTIVE: pb.PRICE_LIST_STATUS_ACTIVE,
    ListStatus.ARCHIVED: pb.PRICE_LIST_STATUS_ARCHIVED,
}


def list_terms(request: pb.CreatePriceListRequest) -> PriceListTerms:
    """What CreatePriceList asks for; INVALID_ARGUMENT for a missing or unknown kind."""
    given = request.price_list
    problems = new_problems()
    kind = KIND_FROM_PROTO.get(given.kind)
    if kind is None:
        unset = given.kind == pb.PRICE_LIST_KIND_UNSPECIFIED
        problems.add(
            "price_list.kind",
            "is required: OVERRIDE or SALE" if unset else "is not a PriceListKind",
            "REQUIRED" if unset else "UNKNOWN_ENUM_VALUE",
        )
    if given.adjustment_basis_points and not given.base_price_list_id:
        problems.add(
            "price_list.adjustment_basis_points",
            "goes with base_price_list_id",
            "NOT_ALLOWED",
        )
    raise_if_any(problems)
    assert kind is not None
    relative = None
    if given.base_price_list_id:
        relative = Relative(given.base_price_list_id, given.adjustment_basis_points)
    scope = PriceListScope(given.currency_code, given.channel, given.customer_group, given.country)
    return PriceListTerms(given.display_name, scope, kind, relative)


def target_status(field: str, value: int) -> ListStatus:
    """A status a list may be moved to; INVALID_ARGUMENT for UNSPECIFIED or unknown."""
    for status, number in STATUS_TO_PROTO.items():
        if number == value:
            return status
    problems = new_problems()
    problems.add(field, "must be DRAFT, ACTIVE or ARCHIVED", "UNKNOWN_ENUM_VALUE")
    raise_if_any(problems)
    raise AssertionError("unreachable: raise_if_any raised")


def statuses(values: Iterable[int]) -> frozenset[ListStatus]:
    return frozenset(target_status(f"statuses[{i}]", v) for i, v in enumerate(values))


def price_list_message(price_list: PriceList) -> pb.PriceList:
    terms, scope = price_list.terms, price_list.scope
    message = pb.PriceList(
        price_list_id=price_list.list_id,
        display_name=terms.name,
        currency_code=scope.currency_code,
        channel=scope.channel,
        customer_group=scope.customer_group,
        country=scope.country,
        kind=KIND_TO_PROTO[terms.kind],
        status=STATUS_TO_PROTO[price_list.status],
        create_time=to_timestamp(price_list.created_at),
    )
    if terms.relative is not None:
        message.base_price_list_id = terms.relative.base_list_id
        message.adjustment_basis_points = terms.relative.basis_points
    if price_list.activated_at is not None:
        message.activate_time.CopyFrom(to_timestamp(price_list.activated_at))
    if price_list.archived_at is not None:
        message.archive_time.CopyFrom(to_timestamp(price_list.archived_at))
    return message
