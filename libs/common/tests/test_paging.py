"""Page tokens are opaque, round-trip and bound to their filters; forged ones are refused."""

from __future__ import annotations

import base64
import json

import pytest

from stockroom.common.db import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    decode_page_token,
    encode_page_token,
    next_page_token,
    page_size,
)
from stockroom.common.errors import InvalidArgument

FILTERS = {"sku": "MUG"}


def forged(cursor: list[object]) -> str:
    """A token with the right filters hash around ``cursor``, as a curious caller could make."""
    real = encode_page_token((1,), FILTERS)
    body = json.loads(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)))
    body["c"] = cursor
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def test_a_token_resumes_after_the_last_row_of_the_page() -> None:
    token = next_page_token([(4,), (7,), (9,)], 2, FILTERS)  # fetched one more than the page

    assert decode_page_token(token, FILTERS, (int,)) == (7,)
    assert next_page_token([(4,), (7,)], 2, FILTERS) == ""
    assert decode_page_token("", FILTERS, (int,)) is None


def test_page_size_defaults_and_is_capped() -> None:
    assert page_size(0) == DEFAULT_PAGE_SIZE
    assert page_size(10**6) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument):
        page_size(-1)


def test_a_token_is_refused_with_other_filters() -> None:
    token = encode_page_token((7,), FILTERS)

    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(token, {"sku": "TEE"}, (int,))

    assert raised.value.reason == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        base64.urlsafe_b64encode(b"after:3").decode(),
        forged(["x"]),
        forged([1, 2]),
        forged([2**63]),
        forged([True]),
    ],
)
def test_a_token_this_service_did_not_give_out_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(token, FILTERS, (int,))

    assert raised.value.field_violations[0].field == "page_token"
    assert raised.value.reason == "INVALID_PAGE_TOKEN"
