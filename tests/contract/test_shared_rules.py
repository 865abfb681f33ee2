"""Pricing accepts nothing inventory refuses: the identifier and limit rules are one contract.

Pricing stores prices for SKUs and quotes carts that it then asks inventory
about; a SKU, request id or cart pricing accepts but inventory refuses would
be stored and then fail every quote. Each property feeds the same value to
both services' own request validation.
"""

from __future__ import annotations

import uuid

from hypothesis import example, given
from hypothesis import strategies as st

from stockroom.common.contract import MAX_AVAILABILITY_LINES, MAX_QUANTITY
from stockroom.common.errors import FieldErrors, InvalidArgument
from stockroom.inventory.api import requests as inventory
from stockroom.inventory.v1 import inventory_pb2 as pb
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.quotes import Cart, CartLine, validate_cart
from stockroom.pricing.domain.validation import check_request_id, check_sku

# Valid ids, ids one character away from valid, and arbitrary text.
id_like = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,70}", fullmatch=True)
near_ids = st.builds(
    lambda head, bad, tail: head + bad + tail,
    id_like,
    st.sampled_from([" ", "/", "é", "\t", "+", ":", "\u00a0", "*"]),
    st.text(max_size=3),
)
ids = st.one_of(id_like, near_ids, st.text(max_size=80))

spellings = st.builds(
    lambda u, form: form(u),
    st.uuids(),
    st.sampled_from(
        [str, lambda u: str(u).upper(), lambda u: u.hex, lambda u: f"{{{u}}}", lambda u: u.urn]
    ),
)
request_ids = st.one_of(spellings, st.text(max_size=45))


def pricing_accepts_sku(sku: str) -> bool:
    problems = FieldErrors()
    check_sku(problems, "sku", sku)
    return not problems.violations


def inventory_accepts_sku(sku: str) -> bool:
    try:
        inventory.one_id("sku", sku)
    except InvalidArgument:
        return False
    return True


@given(ids)
@example("MUG 2")
@example("MUG-2 ")
@example("a" * 65)
def test_pricing_accepts_no_sku_inventory_refuses(sku: str) -> None:
    if pricing_accepts_sku(sku):
        assert inventory_accepts_sku(sku), sku


def test_a_sku_with_a_space_is_refused_by_both() -> None:
    assert not pricing_accepts_sku("MUG 2")
    assert not inventory_accepts_sku("MUG 2")
    assert pricing_accepts_sku("MUG-2")
    assert inventory_accepts_sku("MUG-2")


def inventory_accepts_request_id(request_id: str) -> bool:
    request = pb.ReceiveStockRequest(
        request_id=request_id, sku="MUG-1", location_id="WH-1", quantity=1
    )
    try:
        inventory.receipt(request)
    except InvalidArgument as error:
        refused = {v.field for v in error.field_violations}
    else:
        return True
    assert refused == {"request_id"}  # nothing else in the request is wrong
    return False


@given(request_ids)
@example(f"{{{uuid.UUID(int=1)}}}")
@example(uuid.UUID(int=1).hex)
def test_pricing_accepts_no_request_id_inventory_refuses(request_id: str) -> None:
    problems = FieldErrors()
    check_request_id(problems, request_id)
    # An absent request id is each method's business (optional on pricing's creates).
    if request_id and not problems.violations:
        assert inventory_accepts_request_id(request_id), request_id


lines = st.lists(st.tuples(ids, st.integers(min_value=-2, max_value=MAX_QUANTITY + 2)), max_size=6)


def inventory_accepts_cart(cart_lines: list[tuple[str, int]]) -> bool:
    request = pb.CheckAvailabilityRequest(
        lines=[pb.AvailabilityLine(sku=sku, quantity=quantity) for sku, quantity in cart_lines]
    )
    try:
        inventory.availability_lines(request)
    except InvalidArgument:
        return False
    return True


def pricing_accepts_cart(cart_lines: list[tuple[str, int]]) -> bool:
    problems = FieldErrors()
    cart = Cart(
        tuple(CartLine(sku, quantity) for sku, quantity in cart_lines),
        PriceListScope(currency_code="USD"),
    )
    validate_cart(problems, cart)
    return not problems.violations


@given(lines)
def test_pricing_quotes_no_cart_inventory_cannot_check(cart_lines: list[tuple[str, int]]) -> None:
    if pricing_accepts_cart(cart_lines):
        assert inventory_accepts_cart(cart_lines), cart_lines


def test_the_largest_cart_pricing_quotes_is_one_inventory_checks_in_one_call() -> None:
    largest = [(f"SKU-{i}", 1) for i in range(MAX_AVAILABILITY_LINES)]
    assert pricing_accepts_cart(largest)
    assert inventory_accepts_cart(largest)
    assert not pricing_accepts_cart([*largest, ("SKU-X", 1)])
