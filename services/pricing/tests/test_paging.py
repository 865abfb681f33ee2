"""Page tokens are opaque, round-trip, and a forged one is the caller's mistake."""

from __future__ import annotations

import base64

import pytest

from stockroom.common.errors import InvalidArgument
from stockroom.pricing.api.paging import MAX_PAGE_SIZE, next_page_token, parse_page


def test_a_token_resumes_after_the_last_row_of_the_page() -> None:
    page = parse_page(2, "")

    token = next_page_token(page, [4, 7, 9])  # fetched one more than the page

    assert parse_page(2, token).after_id == 7
    assert next_page_token(page, [4, 7]) == ""


def test_page_size_defaults_and_is_capped() -> None:
    assert parse_page(0, "").size == 50
    assert parse_page(10**6, "").size == MAX_PAGE_SIZE


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        base64.urlsafe_b64encode(b"before:3").decode(),
        base64.urlsafe_b64encode(b"after:x").decode(),
        base64.urlsafe_b64encode(f"after:{2**63}".encode()).decode(),
        base64.urlsafe_b64encode(b"after:-1").decode(),
    ],
)
def test_a_token_this_service_did_not_give_out_is_malformed(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_page(10, token)

    assert raised.value.field_violations[0].field == "page_token"
    assert raised.value.reason == "MALFORMED"
