"""AIP-158 pagination: page_size and opaque page tokens over ascending row ids."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from stockroom.pricing.domain.validation import new_problems, raise_if_any

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
TOKEN_PREFIX = "after:"
MAX_ROW_ID = 2**63  # ids are BIGINTs


@dataclass(frozen=True)
class Page:
    """Rows after ``after_id``, at most ``size``; ``fetch`` asks for one more to see
    whether another page follows."""

    after_id: int
    size: int

    @property
    def fetch(self) -> int:
        return self.size + 1


def parse_page(page_size: int, page_token: str) -> Page:
    """The page a request asks for; INVALID_ARGUMENT for a negative size or a bad token."""
    problems = new_problems()
    if page_size < 0:
        problems.add("page_size", "must not be negative", "NEGATIVE")
    after_id = 0
    if page_token:
        try:
            decoded = base64.urlsafe_b64decode(page_token.encode()).decode()
            if not decoded.startswith(TOKEN_PREFIX):
                raise ValueError(decoded)
            after_id = int(decoded.removeprefix(TOKEN_PREFIX))
            if not 0 <= after_id < MAX_ROW_ID:
                raise ValueError(decoded)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            problems.add("page_token", "is not a token this service gave out", "MALFORMED")
    raise_if_any(problems)
    return Page(after_id, min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE))


def next_page_token(page: Page, ids: list[int]) -> str:
    """The token for the page after ``ids`` (fetched with ``page.fetch``), or ''."""
    if len(ids) <= page.size:
        return ""
    return base64.urlsafe_b64encode(f"{TOKEN_PREFIX}{ids[page.size - 1]}".encode()).decode()
